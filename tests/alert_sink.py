"""A local HTTP endpoint that collects the alerts POSTed to the `meterhouse_alerts` connection."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class AlertSink:
    """An HTTP server on a free 127.0.0.1 port that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/alert"

    def connection_json(self) -> str:
        """The Airflow connection (AIRFLOW_CONN_* JSON form, type http) naming this endpoint."""
        port = self.server.server_port
        return json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
             "extra": {"endpoint": "/alert"}}
        )  # fmt: skip

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
