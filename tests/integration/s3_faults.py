"""A tiny HTTP proxy in front of the local S3 server that injects faults on request.

moto's server has no fault injection of its own for S3 throttling or dropped connections, so
tests put this proxy between boto3 and moto. Each rule matches a method and a path substring
and fires a fixed number of times:

- `slowdown`: answer 503 SlowDown (what S3 says when throttling), as S3 would;
- `reset`: close the connection with a TCP reset before answering;
- `cut`: forward the request, send the headers and half the body, then reset;
- `hook`: call `hook()` first (e.g. upload a new version of the object being read), then forward.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass
class Rule:
    method: str
    path_contains: str
    action: str
    times: int
    hook: Callable[[], object] | None = None


class FaultProxy:
    """Forward HTTP to `upstream` (host, port), firing the configured faults."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []  # (method, path, what happened)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._take(self.command, self.path)
                action = rule.action if rule else "forward"
                proxy._record(self.command, self.path, action)
                if action == "slowdown":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOWDOWN_BODY)))
                    self.end_headers()
                    self.wfile.write(SLOWDOWN_BODY)
                    return
                if action == "reset":
                    self._reset()
                    return
                if action == "hook":
                    assert rule is not None and rule.hook is not None
                    rule.hook()
                status, reason, headers, payload = proxy._upstream(
                    self.command, self.path, body, dict(self.headers.items())
                )
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if action == "cut" and self.command != "HEAD":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, which clients see as "connection reset by peer".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(
        self,
        method: str,
        path_contains: str,
        action: str,
        times: int,
        hook: Callable[[], object] | None = None,
    ) -> None:
        with self._lock:
            self.rules.append(Rule(method, path_contains, action, times, hook))

    def requests(self, method: str, path_contains: str) -> list[str]:
        """What happened to each matching request, in order."""
        with self._lock:
            return [a for m, p, a in self.log if m == method and path_contains in unquote(p)]

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.method == method and rule.path_contains in unquote(path):
                    rule.times -= 1
                    return rule
        return None

    def _record(self, method: str, path: str, action: str) -> None:
        with self._lock:
            self.log.append((method, path, action))

    def _upstream(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
            sent["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            conn.close()
