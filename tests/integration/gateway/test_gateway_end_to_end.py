"""Exactly once, end to end: SDK -> gateway -> S3 -> the batch ingest -> warehouse, with
concurrent clients, a SIGKILLed gateway, and a client that times out after its batch was stored."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from meterhouse_client import MeterhouseClient

from etl.gateway.store import S3Writer
from tests.integration._support import q
from tests.integration.gateway._gateway import (
    KEY,
    LANDING,
    ProcessGateway,
    gateway_settings,
    ingest_landing,
    landed_keys,
    landed_records,
    record,
    running_gateway,
)
from tests.ports import free_port

pytestmark = [pytest.mark.integration]


def _client(url: str, tmp_path: Path, name: str, **options: Any) -> MeterhouseClient:
    defaults: dict[str, Any] = {
        "batch_size": 50,
        "flush_interval_s": 0.05,
        "spool_dir": tmp_path / f"spool-{name}",
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.5,
        "max_retry_after_s": 1.0,
    }
    return MeterhouseClient(url, api_key=KEY, **{**defaults, **options})


def _warehouse_ids(warehouse: Path) -> list[str]:
    return [row[0] for row in q(warehouse, "SELECT event_id FROM meter_events ORDER BY event_id")]


def test_ten_concurrent_sdk_clients_land_every_record_exactly_once(s3: Any, tmp_path: Path) -> None:
    sent: list[str] = []
    lock = threading.Lock()

    def run_client(n: int) -> None:
        with _client(gw.url, tmp_path, str(n)) as client:
            for i in range(300):
                rec = client.meter("gpu_hours", f"{i}.5", f"team-{n}", dimensions={"i": str(i)})
                with lock:
                    sent.append(rec.unique_id)

    with running_gateway(gateway_settings(linger_ms=50)) as gw:
        threads = [threading.Thread(target=run_client, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(sent) == 3000
    assert sorted(r["uniqueId"] for r in landed_records(s3)) == sorted(sent)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    report = ingest_landing(warehouse)
    assert report.totals()["failed"] == 0
    assert _warehouse_ids(warehouse) == sorted(sent)
    # a second run of the batch path changes nothing
    ingest_landing(warehouse)
    assert _warehouse_ids(warehouse) == sorted(sent)


class StoreThenStall:
    """Writes the object, then answers late: the client times out after the batch is stored."""

    def __init__(self, inner: S3Writer, stalls: int, seconds: float) -> None:
        self.inner = inner
        self.stalls = stalls
        self.seconds = seconds
        self.puts = 0

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self.inner.put(key, data, metadata)
        self.puts += 1
        if self.puts <= self.stalls:
            time.sleep(self.seconds)

    def ready(self) -> str | None:
        return self.inner.ready()


def test_client_timing_out_after_the_store_retries_and_lands_once(s3: Any, tmp_path: Path) -> None:
    writer = StoreThenStall(S3Writer(LANDING), stalls=2, seconds=2.0)
    with running_gateway(gateway_settings(linger_ms=0), writer) as gw:
        with _client(gw.url, tmp_path, "slow", batch_size=100, timeout_s=0.5) as client:
            sent = [client.meter("api_calls", 1, "c1").unique_id for _ in range(100)]
            assert client.flush(timeout=60)
        stats = client.stats()
    stored = [r["uniqueId"] for r in landed_records(s3)]
    assert stats.sent == 100 and stats.spooled == 0
    assert len(stored) > len(set(stored)) == 100  # the batch landed more than once ...
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    ingest_landing(warehouse)
    assert _warehouse_ids(warehouse) == sorted(sent)  # ... and is in the warehouse once


def _post_loop(url: str, prefix: str, acked: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        batch = [record(f"{prefix}-{n}-{i}") for i in range(20)]
        n += 1
        try:
            response = requests.post(
                f"{url}/ingest", json=batch, headers={"X-API-KEY": KEY}, timeout=10
            )
        except requests.RequestException:
            time.sleep(0.05)  # the gateway is down: not acknowledged, try the next batch
            continue
        if response.status_code == 200:
            acked.extend(r["uniqueId"] for r in batch)


def test_sigkill_mid_stream_loses_nothing_acknowledged(s3: Any, tmp_path: Path) -> None:
    port = free_port()
    gateway = ProcessGateway(port, tmp_path / "gateway.log", METERHOUSE_GATEWAY_LINGER_MS="100")
    acked: list[str] = []
    stop = threading.Event()
    gateway.start()
    try:
        writers = [
            threading.Thread(target=_post_loop, args=(gateway.url, f"w{n}", acked, stop))
            for n in range(4)
        ]
        for t in writers:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        gateway.kill()  # mid-stream: requests are in flight and in an unwritten group
        before_restart = len(acked)
        time.sleep(0.5)
        gateway.start()
        while len(acked) < before_restart + 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for t in writers:
            t.join(30)
    finally:
        stop.set()
        gateway.stop()
    assert before_restart >= 400 and len(acked) >= before_restart + 400
    stored = {r["uniqueId"] for r in landed_records(s3)}
    assert set(acked) <= stored
    # the two processes wrote under different tokens: the restart overwrote nothing
    tokens = {key.rsplit("/", 1)[1].rsplit("-", 1)[0] for key in landed_keys(s3)}
    assert len(tokens) == 2
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    ingest_landing(warehouse)
    loaded = set(_warehouse_ids(warehouse))
    assert set(acked) <= loaded and loaded == stored
