"""scripts/stack.py's REST client against a scripted API: how it rides out SQLite's lock errors.

The real stack runs these paths only when the scheduler happens to hold the metadata DB's
write lock, so the answers are scripted here: each request gets the next one.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from stack import ApiClient  # noqa: E402

BODY = {"dag_id": "usage_ingest", "from_date": "2026-09-02T00:00:00Z"}
RUNNING = (200, {"backfills": [{"id": 7, "completed_at": None}], "total_entries": 1})
DONE = (200, {"backfills": [{"id": 7, "completed_at": "2026-09-05T00:00:00Z"}], "total_entries": 1})
CREATED = (200, {"id": 8, "completed_at": None})
LOCKED = (503, {"detail": "Database is locked."})
BUSY = (409, {"detail": "There is already a running backfill for dag usage_ingest"})


class _Scripted(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict[str, Any]]] = []
    seen: list[str] = []

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path.split('?')[0]}")
        status, body = type(self).answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    import time

    monkeypatch.setattr(time, "sleep", lambda _s: None)
    _Scripted.answers, _Scripted.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ApiClient(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


def test_backfill_after_a_lock_error_waits_for_the_half_made_one_then_asks_again(
    api: ApiClient,
) -> None:
    # 503: Airflow may have committed a backfill without all its runs. It runs what it got;
    # asking again before the scheduler completes it answers 409.
    _Scripted.answers = [LOCKED, RUNNING, DONE, BUSY, DONE, CREATED]
    assert api.create_backfill(BODY)["id"] == 8
    assert _Scripted.seen == [
        "POST /api/v2/backfills",
        "GET /api/v2/backfills",
        "GET /api/v2/backfills",
        "POST /api/v2/backfills",
        "GET /api/v2/backfills",
        "POST /api/v2/backfills",
    ]
    assert _Scripted.answers == []


def test_a_backfill_already_running_without_a_lock_error_is_the_users_error(
    api: ApiClient,
) -> None:
    _Scripted.answers = [BUSY]
    with pytest.raises(RuntimeError, match="409: .*already a running backfill"):
        api.create_backfill(BODY)
    assert _Scripted.seen == ["POST /api/v2/backfills"]


def test_other_errors_are_not_retried(api: ApiClient) -> None:
    _Scripted.answers = [(400, {"detail": "from_date after to_date"})]
    with pytest.raises(RuntimeError, match="400: .*from_date after to_date"):
        api.create_backfill(BODY)
    assert _Scripted.seen == ["POST /api/v2/backfills"]


def test_a_lock_that_never_clears_gives_up_at_the_deadline(api: ApiClient) -> None:
    _Scripted.answers = [LOCKED]
    with pytest.raises(RuntimeError, match="503: .*still failing after 0s"):
        api.create_backfill(BODY, timeout_s=0)
