"""HTTP mode: Bolt behind a threaded WSGI server, answering ``POST /slack/events``."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


def http_server(app: App, *, host: str = "0.0.0.0", port: int = 3000) -> WSGIServer:
    """A server for ``app`` (port 0 picks a free one); call ``serve_forever`` to run it."""
    return make_server(
        host,
        port,
        SlackRequestHandler(app, path=EVENTS_PATH),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )


def serve_in_thread(app: App, *, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """Start serving ``app`` in a daemon thread; ``shutdown()`` and ``server_close()`` stop it."""
    server = http_server(app, host=host, port=port)
    threading.Thread(target=server.serve_forever, daemon=True, name="slack-http").start()
    return server
