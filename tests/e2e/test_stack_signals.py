"""The operations a user relies on, on the real stack (scheduler, triggerer, API server, S3):
the sensor waits for new exports (deferred in the triggerer), every ledger row names the run
that loaded it (`meterhouse runs`, the Usage & cost page's run links), the warehouse Asset names
the days that changed and usage_rollup rebuilds exactly those and updates the cost Assets, and
a failed run posts an alert to the `meterhouse_alerts` connection.

Runs after tests/e2e/test_stack_runs.py on the same stack (file order) and uses days of the
sample month those tests leave alone (20, 21) and a day after it (2026-10-15).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest

from tests.live_stack import SENSOR_TIMEOUT_S, LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"


def _wait_task_state(stack: LiveStack, run_id: str, task: str, state: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.task_states(run_id).get(f"{task}[-1]") == state:
            return
        time.sleep(1)
    raise AssertionError(f"{task} of {run_id} never {state}: {stack.task_states(run_id)}")


def _xcom(stack: LiveStack, dag_id: str, run_id: str, task: str) -> Any:
    path = f"{_path(dag_id, run_id)}/taskInstances/{task}/xcomEntries/return_value"
    return stack.api.get(path)["value"]


def _load_day(stack: LiveStack, day: str) -> str:
    run_id = stack.trigger({"start_date": day})
    assert stack.wait_for_run(run_id) == "success", stack.task_states(run_id)
    assert stack.task_states(run_id)["wait_for_exports[-1]"] == "success"
    return run_id


def test_a_run_with_nothing_new_waits_deferred_then_ends_skipped(live_stack: LiveStack) -> None:
    _load_day(live_stack, "2026-09-20")
    live_stack.wait_idle()
    ledger = live_stack.query("SELECT source_uri, etag, CAST(loaded_at AS VARCHAR) FROM ingest_ledger ORDER BY 1")

    run_id = live_stack.trigger({"start_date": "2026-09-20"})  # everything of that day is loaded
    _wait_task_state(live_stack, run_id, "wait_for_exports", "deferred")  # in the triggerer
    started = time.monotonic()
    assert live_stack.wait_for_run(run_id) == "success"  # skipped is not failed
    waited = time.monotonic() - started
    states = live_stack.task_states(run_id)
    assert states["wait_for_exports[-1]"] == "skipped"
    assert states["discover[-1]"] == "skipped" and states["report[-1]"] == "skipped"
    assert waited >= SENSOR_TIMEOUT_S - 10  # it waited for the timeout, it did not end at once
    live_stack.wait_idle()
    assert live_stack.query("SELECT source_uri, etag, CAST(loaded_at AS VARCHAR) FROM ingest_ledger ORDER BY 1") == ledger


GOOD_KEY = "ingest/usage/dt=2026-10-15/late-export.ndjson"
BAD_KEY = "ingest/usage/dt=2026-10-15/late-broken.bin"
LATE_RECORD = (
    b'{"customerId": "late-customer", "meterApiName": "cpu_core_hours", "meterValue": 2, '
    b'"meterTimeInMillis": 1792065600000, "uniqueId": "late-1"}\n'
)


def test_exports_landing_while_the_sensor_waits_load_and_name_their_run(live_stack: LiveStack) -> None:
    run_id = live_stack.trigger({"start_date": "2026-10-15"})
    _wait_task_state(live_stack, run_id, "wait_for_exports", "deferred")
    s3 = live_stack.s3()
    s3.put_object(Bucket="usage", Key=GOOD_KEY, Body=LATE_RECORD)
    s3.put_object(Bucket="usage", Key=BAD_KEY, Body=b"\x00\x01 not usage data")
    assert live_stack.wait_for_run(run_id) == "failed"  # the broken file fails the run ...
    states = live_stack.task_states(run_id)
    assert states["wait_for_exports[-1]"] == "success" and states["report[-1]"] == "success"
    assert sorted(_xcom(live_stack, "usage_ingest", run_id, "wait_for_exports")) == sorted(
        f"s3://usage/{k}" for k in (GOOD_KEY, BAD_KEY)
    )
    live_stack.wait_idle()

    # ... and every ledger row of the run names it and the try that loaded it.
    rows = live_stack.query(
        "SELECT source_key, status, run_id, dag_id, try_number, os_user IS NOT NULL, run_started_at IS NOT NULL "
        "FROM ingest_ledger WHERE source_key IN (?, ?) ORDER BY 1",
        [BAD_KEY, GOOD_KEY],
    )
    assert rows == [
        (BAD_KEY, "failed", run_id, "usage_ingest", 1, True, True),
        (GOOD_KEY, "loaded", run_id, "usage_ingest", 1, True, True),
    ]

    # `meterhouse runs` lists it first, with its files and rows.
    env = {**os.environ, "METERHOUSE_WAREHOUSE": str(live_stack.warehouse)}
    env.pop("METERHOUSE_LAKE", None)
    meterhouse = str(Path(sys.executable).with_name("meterhouse"))
    out = subprocess.run([meterhouse, "runs", "--format", "json", "--limit", "3"], env=env, capture_output=True, text=True, check=True)
    newest = json.loads(out.stdout)[0]
    assert (newest["run_id"], newest["dag_id"], newest["try_number"]) == (run_id, "usage_ingest", 1)
    assert (newest["files"], newest["failed"], newest["rows_in"], newest["events_loaded"]) == (2, 1, 1, 1)
    assert newest["duration_s"] >= 0 and newest["started_at"] < newest["finished_at"]
    status = json.loads(subprocess.run([meterhouse, "status", "--format", "json"], env=env, capture_output=True, text=True, check=True).stdout)
    assert status["last_run"] == newest
    assert f"s3://usage/{BAD_KEY}" in [f["source_uri"] for f in status["failed_files"]]

    # The Usage & cost page links the failed file to the run's own page in Airflow's UI.
    page_url = f"{live_stack.url}/meterhouse/usage"
    page = live_stack.api.session.get(page_url, timeout=60)
    assert page.status_code == 200
    href = f"../dags/usage_ingest/runs/{quote(run_id, safe='')}"
    assert f'<a href="{href}" data-airflow-link>{run_id}</a>' in page.text.replace("&#43;", "+")
    run_page = live_stack.api.session.get(urljoin(page_url, href), timeout=60)
    assert run_page.status_code == 200 and "<html" in run_page.text.lower()

    # The failed run posted an alert to the meterhouse_alerts connection's URL.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(a["run_id"] == run_id for a in live_stack.alerts):
        time.sleep(2)
    (alert,) = [a for a in live_stack.alerts if a["run_id"] == run_id]
    assert [f["uri"] for f in alert["failed_files"]] == [f"s3://usage/{BAD_KEY}"]


def _rollup_run_of(stack: LiveStack, event_id: int, timeout_s: float = 240) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = stack.api.get("/api/v2/dags/usage_rollup/dagRuns", params={"order_by": "-id", "limit": 10})["dag_runs"]
        for run in runs:
            consumed = stack.api.get(f"{_path('usage_rollup', run['dag_run_id'])}/upstreamAssetEvents")
            if event_id in [e["id"] for e in consumed["asset_events"]]:
                return str(run["dag_run_id"])
        time.sleep(3)
    raise AssertionError(f"no usage_rollup run consumed asset event {event_id}")


def test_the_rollup_rebuilds_exactly_the_days_the_ingest_changed(live_stack: LiveStack) -> None:
    ingest_run = _load_day(live_stack, "2026-09-21")
    (event,) = live_stack.api.get("/api/v2/assets/events", params={"source_dag_id": "usage_ingest", "source_run_id": ingest_run})["asset_events"]
    assert event["uri"] == "file:///meterhouse/warehouse/meter_events"
    changed = sorted(
        r[0]
        for r in live_stack.query(
            "SELECT DISTINCT CAST(event_date AS VARCHAR) FROM meter_events WHERE source_uri IN "
            "(SELECT source_uri FROM ingest_ledger WHERE run_id = ?)",
            [ingest_run],
        )
    )
    assert changed and event["extra"]["dates"] == changed
    assert event["extra"]["months"] == sorted({d[:7] for d in changed})

    rollup_run = _rollup_run_of(live_stack, event["id"])
    deadline = time.monotonic() + 300
    while live_stack.api.get(_path("usage_rollup", rollup_run))["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, "usage_rollup did not finish"
        time.sleep(2)
    assert live_stack.api.get(_path("usage_rollup", rollup_run))["state"] == "success"
    assert _xcom(live_stack, "usage_rollup", rollup_run, "plan_days") == changed

    costs = live_stack.api.get("/api/v2/assets/events", params={"source_dag_id": "usage_rollup", "source_run_id": rollup_run})["asset_events"]
    assert sorted(e["uri"] for e in costs) == ["meterhouse://costs/daily", "meterhouse://costs/monthly"]
    assert [e["extra"]["dates"] for e in costs] == [changed, changed]
    assert [e["extra"]["months"] for e in costs] == [event["extra"]["months"]] * 2
