"""A real Prometheus (Debian's, remote write 1.0) scrapes an exporter this test controls and
remote-writes to the gateway; the batch ingest loads the landing prefix; the warehouse's usage
equals what the exporter produced, exactly, through a gateway outage, a spell of 503s and an
exporter restart (a counter reset).

The exporter stamps every sample with a virtual clock that advances one second per scrape it
serves, so the scenario is a script indexed by scrape and the expected usage is exact.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import pytest
import uvicorn
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer, make_server

from etl.gateway.app import create_app
from etl.gateway.store import S3Writer
from tests.conftest import BUCKET
from tests.integration.gateway._gateway import KEY, LANDING, gateway_settings
from tests.ports import free_port
from tests.prometheus_usage import mapping_file

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="needs Debian's prometheus (make test installs it)",
    ),
]

SCRAPES = 40  # the script's length; afterwards counters stay and gauges read 0
RESTART_AT = 28  # the exporter restarts before this scrape: its counter starts from zero
INCREMENTS = [0] + [(k % 5) + 1 for k in range(1, SCRAPES)]  # known amounts per scrape
GAUGE = [2.5 if k < 12 else 4.0 if k < 30 else 1.0 for k in range(SCRAPES)] + [0.0]


class Exporter:
    """requests_total (counter) and cores (gauge) of customer team-a, one tick per scrape."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_ms = 0
        self.tick = 0
        self.armed = False
        self.lock = threading.Lock()
        self.server: WSGIServer | None = None

    def value(self, k: int) -> float:
        start = RESTART_AT if k >= RESTART_AT else 1
        return float(sum(INCREMENTS[start : min(k, SCRAPES - 1) + 1]))

    def arm(self) -> None:
        """Start the script: Prometheus's remote write skips samples older than its own start,
        so the virtual clock starts once it is sending."""
        with self.lock:
            self.base_ms = int(time.time()) * 1000
            self.armed = True

    def collect(self) -> Iterator[Any]:
        if not self.armed:
            return
        with self.lock:
            k = self.tick
            self.tick += 1
        ts = (self.base_ms + k * 1000) / 1000
        counter = CounterMetricFamily("requests", "requests served", labels=["namespace"])
        counter.add_metric(["team-a"], self.value(k), timestamp=ts)
        gauge = GaugeMetricFamily("cores", "cores requested", labels=["namespace"])
        gauge.add_metric(["team-a"], GAUGE[min(k, SCRAPES)], timestamp=ts)
        yield counter
        yield gauge

    def start(self) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        self.server = make_server("127.0.0.1", self.port, make_wsgi_app(registry), ThreadingWSGIServer)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


class SwitchableWriter(S3Writer):
    """S3, or a store outage while `down` is set (the gateway answers 503)."""

    down = False

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        if self.down:
            raise ConnectionError("S3 is down")
        super().put(key, data, metadata)


class Gateway:
    def __init__(self, port: int, writer: SwitchableWriter) -> None:
        self.port = port
        self.writer = writer
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(gateway_settings(), self.writer)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=60)


def _prometheus_config(path: Path, exporter: int, gateway: int) -> None:
    path.write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: usage
    static_configs: [{{targets: ["127.0.0.1:{exporter}"]}}]
remote_write:
  - url: http://127.0.0.1:{gateway}/api/v1/write
    authorization: {{credentials: {KEY}}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
    metadata_config: {{send: false}}
"""
    )


def _landed_max_ts(s3: Any) -> int:
    newest = 0
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="ingest/prometheus/")
    for page in pages:
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
            for line in body.splitlines():
                row = json.loads(line)
                if row["labels"]["__name__"] == "cores":
                    newest = max([newest, *(t for t, _ in row["samples"])])
    return newest


def test_real_prometheus_usage_is_exact(s3: Any, tmp_path: Path, settings: Any) -> None:
    from etl.jobs.ingest import ingest
    from etl.warehouse import Warehouse

    exporter = Exporter(free_port())
    gateway = Gateway(free_port(), SwitchableWriter(LANDING))
    config = tmp_path / "prometheus.yml"
    _prometheus_config(config, exporter.port, gateway.port)
    exporter.start()
    gateway.start()
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{free_port()}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:

        def wait_tick(k: int) -> None:
            deadline = time.monotonic() + 60
            while exporter.tick < k:
                assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
                assert time.monotonic() < deadline, f"scrape {k} never came"
                time.sleep(0.1)

        deadline = time.monotonic() + 60
        while not s3.list_objects_v2(Bucket=BUCKET, Prefix="ingest/prometheus/").get("KeyCount"):
            assert time.monotonic() < deadline, "Prometheus never remote-wrote"
            time.sleep(0.2)
        exporter.arm()
        wait_tick(8)
        gateway.stop()  # Prometheus buffers in its WAL and resends
        wait_tick(14)
        gateway.start()
        wait_tick(18)
        gateway.writer.down = True  # 503 with Retry-After for a while
        wait_tick(23)
        gateway.writer.down = False
        wait_tick(RESTART_AT - 1)
        exporter.stop()  # the exporter restarts: scrapes fail, then its counter is back at 0
        time.sleep(2.5)
        exporter.start()
        wait_tick(SCRAPES + 3)
        last = exporter.base_ms + SCRAPES * 1000
        deadline = time.monotonic() + 60
        while _landed_max_ts(s3) < last:
            assert time.monotonic() < deadline, "Prometheus did not deliver every sample"
            time.sleep(0.5)
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        gateway.stop()
        exporter.stop()

    settings = replace(settings, prometheus_mapping=mapping_file(tmp_path, MAPPING))
    report = ingest([f"s3://{BUCKET}/ingest/prometheus/"], settings)
    assert report.files and all(f.status in ("loaded", "empty") for f in report.files), report
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    _, rows = wh.query("SELECT meter_name, sum(quantity) FROM meter_events GROUP BY ALL ORDER BY 1")
    _, ticks = wh.query(
        "SELECT s.series_key, list((ts_ms - ?) // 1000 ORDER BY ts_ms), list(value ORDER BY ts_ms) "
        "FROM prometheus_samples s GROUP BY ALL", [exporter.base_ms]
    )
    assert dict(rows) == {
        "api_requests": Decimal(sum(INCREMENTS[1:])),
        "cpu": Decimal(str(sum(GAUGE[:SCRAPES]))),  # each value held one second
    }, ticks
    # Replaying every landed object again (a reprocess) changes nothing.
    ingest([f"s3://{BUCKET}/ingest/prometheus/"], settings, force=True)
    _, again = wh.query("SELECT meter_name, sum(quantity) FROM meter_events GROUP BY ALL ORDER BY 1")
    assert again == rows
    _, unmapped = wh.query("SELECT count(*) FROM prometheus_unmapped WHERE metric = 'up'")
    assert unmapped[0][0] > 0


MAPPING = """
meters:
  - metric: requests_total
    meter: api_requests
    unit: requests
    kind: counter
  - metric: cores
    meter: cpu
    unit: core-seconds
    kind: gauge
    per: second
    max_gap: 10s
"""
