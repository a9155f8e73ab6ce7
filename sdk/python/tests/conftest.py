"""Fixtures for the SDK's tests: a scripted gateway on 127.0.0.1 and clients on it.

No __init__.py in this directory on purpose: run from the main repository, these tests sit
beside its `tests` package and must not be imported as part of it (nor use its conftest).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from stub_gateway import API_KEY, FAST, Gateway, Handler, MakeClient, ServerState

from meterhouse_client import MeterhouseClient


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = ServerState()
    handler = type("BoundHandler", (Handler,), {"server_state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Gateway(url=f"http://{host!s}:{port}", state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_client(gateway: Gateway, spool_dir: Path) -> Iterator[MakeClient]:
    """Clients on the scripted gateway with a temporary spool, closed after the test."""
    made: list[MeterhouseClient] = []

    def make(**options: Any) -> MeterhouseClient:
        settings = {**FAST, "spool_dir": spool_dir, **options}
        client = MeterhouseClient(gateway.url, API_KEY, **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=5)
