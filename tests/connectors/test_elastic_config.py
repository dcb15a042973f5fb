"""ES_URL as people write it: credentials in the URL, or no scheme."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.config import ElasticsearchConfig


def test_credentials_in_the_url_move_to_the_secret_fields() -> None:
    config = ElasticsearchConfig(url="https://elastic:s3cr%40t@logs.example.com:9200")
    assert config.url == "https://logs.example.com:9200"
    assert config.username == "elastic"
    assert config.password is not None
    assert config.password.get_secret_value() == "s3cr@t"
    assert "s3cr" not in repr(config)


def test_a_url_without_a_scheme_says_what_to_write() -> None:
    with pytest.raises(ValidationError, match="ES_URL must be a full URL"):
        ElasticsearchConfig(url="localhost:9200")
