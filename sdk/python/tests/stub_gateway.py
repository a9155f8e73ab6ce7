"""A stand-in for the meterhouse gateway: a real HTTP server on 127.0.0.1 whose answers a
test scripts (200, 400 problem, 413, 429/503 with Retry-After, slow answers, dropped
connections), and small helpers for reading spool directories."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from meterhouse_client import MeterhouseClient, MeterRecord

API_KEY = "test-key"


@dataclass
class Received:
    """One request as the server read it."""

    at: float
    headers: dict[str, str]
    raw_body: bytes
    records: list[dict[str, Any]]


Action = Callable[["Handler", Received], None]


def ok(handler: Handler, request: Received) -> None:
    """Store the records, answer 200 {"stored": N}."""
    handler.server_state.store(request)
    handler.answer(200, {"stored": len(request.records)})


def status(code: int, headers: dict[str, str] | None = None) -> Action:
    """Answer `code` with a small JSON body, storing nothing."""

    def act(handler: Handler, request: Received) -> None:
        handler.answer(code, {"title": f"status {code}"}, headers=headers)

    return act


def problem(errors: list[dict[str, Any]]) -> Action:
    """400 application/problem+json naming bad records."""

    def act(handler: Handler, request: Received) -> None:
        body = {
            "type": "https://meterhouse.dev/problems/invalid-records",
            "title": "Invalid meter records",
            "status": 400,
            "detail": f"{len(errors)} of {len(request.records)} records break a rule",
            "errors": errors,
        }
        handler.answer(400, body, content_type="application/problem+json")

    return act


def slow(seconds: float) -> Action:
    """Store the records, then answer only after `seconds` (past the client's timeout: the
    batch is stored but the client never hears so)."""

    def act(handler: Handler, request: Received) -> None:
        handler.server_state.store(request)
        time.sleep(seconds)
        handler.answer(200, {"stored": len(request.records)})

    return act


def drop(handler: Handler, request: Received) -> None:
    """Close the connection without an answer."""
    handler.close_connection = True


def hold(gate: threading.Event) -> Action:
    """Store, then answer 200 once the test opens `gate`."""

    def act(handler: Handler, request: Received) -> None:
        gate.wait(10)
        ok(handler, request)

    return act


def too_large_above(limit: int) -> Action:
    """413 for batches of more than `limit` records, else store."""

    def act(handler: Handler, request: Received) -> None:
        if len(request.records) > limit:
            handler.answer(413, {"title": "Payload Too Large"})
        else:
            ok(handler, request)

    return act


@dataclass
class ServerState:
    """What the scripted gateway was sent and what it stored."""

    script: deque[Action] = field(default_factory=deque)
    default: Action = ok
    received: list[Received] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_request: threading.Event = field(default_factory=threading.Event)

    def store(self, request: Received) -> None:
        with self.lock:
            self.stored.extend(request.records)

    def next_action(self) -> Action:
        with self.lock:
            return self.script.popleft() if self.script else self.default

    def stored_ids(self) -> list[str]:
        with self.lock:
            return [r["uniqueId"] for r in self.stored]

    def wait_stored(self, count: int, timeout_s: float = 10.0) -> list[str]:
        """Wait until at least `count` distinct uniqueIds are stored."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ids = self.stored_ids()
            if len(set(ids)) >= count:
                return ids
            time.sleep(0.01)
        raise AssertionError(f"only {len(set(self.stored_ids()))} of {count} records stored")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: ServerState

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        request = Received(
            at=time.monotonic(),
            headers={k.lower(): v for k, v in self.headers.items()},
            raw_body=body,
            records=json.loads(body),
        )
        state = self.server_state
        with state.lock:
            state.received.append(request)
        state.first_request.set()
        if self.path != "/ingest" or request.headers.get("x-api-key") != API_KEY:
            self.answer(401, {"title": "Unauthorized"})
            return
        state.next_action()(self, request)

    def answer(
        self,
        code: int,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timed out) before the answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Gateway:
    """A scripted gateway on 127.0.0.1."""

    url: str
    state: ServerState


# Small timings keep the suite fast; the behaviour under test does not depend on them.
FAST: dict[str, Any] = {
    "flush_interval_s": 0.05,
    "timeout_s": 5.0,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "close_timeout_s": 10.0,
}

MakeClient = Callable[..., MeterhouseClient]


def meter_some(client: MeterhouseClient, count: int, meter: str = "api_calls") -> list[MeterRecord]:
    return [client.meter(meter, i, f"customer-{i % 3}") for i in range(count)]


def spooled_lines(directory: Path) -> list[dict[str, Any]]:
    """Records in every (non-dead-letter) spool file of `directory`."""
    lines: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.ndjson")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return lines


def dead_letters(directory: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted((directory / "dead-letter").glob("*.ndjson")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return lines
