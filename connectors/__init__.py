"""Read-only connectors to the sources investigators need: logs, metrics and changes.

Capabilities are protocols (:mod:`connectors.base`); Elasticsearch, Datadog and GitHub implement
them; every error is in :mod:`connectors.errors`.
"""
