"""One real embedded stack (scheduler, API server, DAG processor, triggerer + local S3) per session.

Shared by tests/e2e and tests/browser through the `live_stack` fixture (imported in
tests/conftest.py so that both directories get the same session instance). It is started with
scripts/stack.py exactly as `make up` does, on free ports, with its own Airflow home and
warehouse in a temp dir, and stopped by process id at the end of the session.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.alert_sink import AlertSink
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
#: How long the stack's sensor waits for new exports before the run ends skipped.
SENSOR_TIMEOUT_S = 30
sys.path.insert(0, str(ROOT / "scripts"))



ALL_HEALTHY = {
    "metadatabase": "healthy",
    "scheduler": "healthy",
    "triggerer": "healthy",
    "dag_processor": "healthy",
}
"""What /api/v2/monitor/health says of a stack whose every component runs."""


def health(api: Any) -> dict[str, str]:
    """Each component's status from the API server's /api/v2/monitor/health."""
    return {k: v["status"] for k, v in api.get("/api/v2/monitor/health").items()}


@dataclass
class LiveStack:
    """What tests get: the running stack's addresses, a logged-in REST client, helpers."""

    cfg: Any
    api: Any
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.cfg.url)

    @property
    def warehouse(self) -> Path:
        return Path(self.cfg.warehouse)

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.cfg.s3_endpoint,
            aws_access_key_id="meterhouse",
            aws_secret_access_key="meterhouse-local",
            region_name="us-east-1",
        )

    def trigger(self, conf: dict[str, Any]) -> str:
        run = self.api.post(
            "/api/v2/dags/usage_ingest/dagRuns", {"logical_date": None, "conf": conf}
        )
        return str(run["dag_run_id"])

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/v2/dags/usage_ingest/dagRuns/{quote(run_id, safe='')}"))

    def wait_for_run(self, run_id: str, timeout_s: float = 300) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.run(run_id)["state"]
            if state in ("success", "failed"):
                return str(state)
            time.sleep(2)
        raise AssertionError(
            f"run {run_id} not finished after {timeout_s}s: {self.task_states(run_id)}"
        )

    def task_states(self, run_id: str) -> dict[str, str]:
        tis = self.api.get(
            f"/api/v2/dags/usage_ingest/dagRuns/{quote(run_id, safe='')}/taskInstances"
        )
        return {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis["task_instances"]}

    def task_log(self, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = (
            f"/api/v2/dags/usage_ingest/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
            f"/logs/{try_number}"
        )
        content = self.api.get(path, params={"full_content": "true"})["content"]
        return "\n".join(json.dumps(c) if not isinstance(c, str) else c for c in content)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read the warehouse; waits out a writer's lock (a rollup may still be running)."""
        import duckdb

        deadline = time.monotonic() + 120
        while True:
            try:
                with duckdb.connect(str(self.warehouse), read_only=True) as con:
                    return con.execute(sql, params or []).fetchall()
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def wait_idle(self, timeout_s: float = 300) -> None:
        """Until no DAG run of any meterhouse DAG is queued or running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = self.api.get("/api/v2/dags/~/dagRuns", params={"state": ["queued", "running"]})
            if busy["total_entries"] == 0:
                return
            time.sleep(2)
        raise AssertionError("runs still active: " + json.dumps(busy)[:500])


def sample_exports() -> list[tuple[str, bytes]]:
    """The exports the stack was seeded with (the generator is deterministic)."""
    from stack import SAMPLE_CUSTOMERS, SAMPLE_DAYS, SAMPLE_START

    from etl.samples.amberflo import generate_amberflo_exports

    return generate_amberflo_exports(
        start=SAMPLE_START, days=SAMPLE_DAYS, customers=SAMPLE_CUSTOMERS, seed=7
    )


def sample_keys(first: date, last: date) -> list[str]:
    """Keys of the seeded exports dated `first`..`last` (inclusive)."""
    from etl.sources.windows import DateWindow, in_window

    window = DateWindow(
        datetime.combine(first, datetime.min.time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
    return sorted(k for k, _ in sample_exports() if in_window(k, window))


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    from stack import StackConfig, down, up

    home = tmp_path_factory.mktemp("stack")
    sink = AlertSink()
    cfg = StackConfig(
        home=home,
        api_port=free_port(),
        s3_port=free_port(),
        gateway_port=free_port(),
        warehouse=home / "data" / "warehouse.duckdb",
        extra_env=(
            ("AIRFLOW_CONN_METERHOUSE_ALERTS", sink.connection_json()),
            ("METERHOUSE_SENSOR_POKE_INTERVAL", "5"),
            # A run with nothing new waits this long, then ends skipped (tests wait for it).
            ("METERHOUSE_SENSOR_TIMEOUT", str(SENSOR_TIMEOUT_S)),
        ),
    )
    started = time.monotonic()
    api = up(cfg)
    print(f"\nlive stack up in {time.monotonic() - started:.0f}s at {cfg.url}")
    try:
        yield LiveStack(cfg, api, sink.received)
    finally:
        try:
            stopped = down(cfg, quiet=True)
            print(f"live stack down: {stopped} processes stopped")
        finally:
            sink.close()
            shutil.copytree(home / "logs", ARTIFACTS / "stack-logs", dirs_exist_ok=True)
            airflow_logs = home / "airflow" / "logs"
            if airflow_logs.exists():
                shutil.copytree(
                    airflow_logs, ARTIFACTS / "stack-logs" / "airflow", dirs_exist_ok=True
                )
