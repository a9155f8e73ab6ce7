"""The real stack: scheduler + API server + DAG processor + triggerer + local S3, driven over REST v2.

The tests run in file order against one stack (tests/live_stack.py); each builds on what the
previous ones loaded into the warehouse, the way a user would: a manual run for a day, a
backfill (REST and CLI) of the days after it, the same backfill again, a reprocess, a failure.
Expected numbers come from the sample generator the stack was seeded with.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.live_stack import ALL_HEALTHY, LiveStack, health, sample_exports
from tests.live_stack import sample_keys as _keys_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))


def _expected_events(first: date, last: date) -> int:
    from etl.samples.amberflo import summarize_exports

    keys = set(_keys_for(first, last))
    return summarize_exports([(k, d) for k, d in sample_exports() if k in keys]).distinct_event_ids


# The browser test (tests/browser, collected first) loads this day through the UI form on the
# same stack; the assertions here are about the days these tests load, so its files are left out.
BROWSER_DAY = date(2026, 9, 8)


def _browser_keys() -> set[str]:
    return set(_keys_for(BROWSER_DAY, BROWSER_DAY))


def _ledger(stack: LiveStack) -> dict[str, tuple[str, str]]:
    rows = stack.query("SELECT source_key, status, CAST(loaded_at AS VARCHAR) FROM ingest_ledger")
    skip = _browser_keys()
    return {key: (status, loaded_at) for key, status, loaded_at in rows if key not in skip}


def _events(stack: LiveStack) -> tuple[int, int]:
    skip = {f"s3://usage/{key}" for key in _browser_keys()}
    rows = [
        r for r in stack.query("SELECT event_id, source_uri FROM meter_events") if r[1] not in skip
    ]
    return len(rows), len({r[0] for r in rows})


SEP = date(2026, 9, 1)


def test_stack_is_healthy_and_listens_on_localhost_only(live_stack: LiveStack) -> None:
    import psutil
    from stack import _read_pids, _session_members

    assert health(live_stack.api) == ALL_HEALTHY
    ours = set(_session_members(set(_read_pids(live_stack.cfg.home).values())))
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    }
    assert ("127.0.0.1", live_stack.cfg.api_port) in listening
    assert ("127.0.0.1", live_stack.cfg.s3_port) in listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_nightly_schedule_is_a_data_interval_timetable(live_stack: LiveStack) -> None:
    details = live_stack.api.get("/api/v2/dags/usage_ingest/details")
    assert details["timetable_summary"] == "0 0 * * *"
    assert details["is_paused"] is False
    assert [p for p in details["params"]] == [
        "start_date",
        "end_date",
        "sources",
        "force",
        "dry_run",
    ]


def test_trigger_form_params_are_validated(live_stack: LiveStack) -> None:
    for conf, message in [
        ({"start_date": "1st of September"}, "is not a 'date'"),
        ({"sources": ["http://elsewhere/x/"]}, "does not match"),
        ({"force": "yes"}, "is not of type 'null', 'boolean'"),  # optional: null or a boolean
    ]:
        with pytest.raises(RuntimeError, match="400") as err:
            live_stack.trigger(conf)
        assert message in str(err.value)


def test_manual_run_for_one_day_loads_exactly_that_day(live_stack: LiveStack) -> None:
    run_id = live_stack.trigger({"start_date": "2026-09-01"})
    assert live_stack.wait_for_run(run_id) == "success", live_stack.task_states(run_id)
    live_stack.wait_idle()
    ledger = _ledger(live_stack)
    assert sorted(ledger) == _keys_for(SEP, SEP)
    assert {status for status, _ in ledger.values()} == {"loaded"}
    assert _events(live_stack) == (_expected_events(SEP, SEP),) * 2


def _backfill(stack: LiveStack, first: str, last: str, reprocess: str) -> dict[str, Any]:
    body = {
        "dag_id": "usage_ingest",
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T00:00:00Z",
        "max_active_runs": 3,
        "reprocess_behavior": reprocess,
        "run_backwards": False,
        "dag_run_conf": {},
    }
    return dict(stack.api.create_backfill(body))


def _wait_backfill(
    stack: LiveStack, backfill_id: int, first: str, last: str
) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if stack.api.get(f"/api/v2/backfills/{backfill_id}")["completed_at"]:
            break
        time.sleep(3)
    else:
        raise AssertionError(f"backfill {backfill_id} did not complete in 600s")
    runs = stack.api.get(
        "/api/v2/dags/usage_ingest/dagRuns",
        params={
            "run_type": "backfill",
            "logical_date_gte": f"{first}T00:00:00Z",
            "logical_date_lte": f"{last}T00:00:00Z",
        },
    )["dag_runs"]
    return list(runs)


def test_rest_backfill_loads_its_intervals_once_and_again_changes_nothing(
    live_stack: LiveStack,
) -> None:
    backfill = _backfill(live_stack, "2026-09-02", "2026-09-04", "none")
    runs = _wait_backfill(live_stack, backfill["id"], "2026-09-02", "2026-09-04")
    assert [r["state"] for r in runs] == ["success"] * 3
    assert sorted((r["data_interval_start"], r["data_interval_end"]) for r in runs) == [
        (f"2026-09-0{d}T00:00:00Z", f"2026-09-0{d + 1}T00:00:00Z") for d in (2, 3, 4)
    ]
    live_stack.wait_idle()
    ledger = _ledger(live_stack)
    assert sorted(ledger) == _keys_for(SEP, date(2026, 9, 4))  # day 1 from before, 2-4 now
    events = _events(live_stack)
    assert events == (_expected_events(SEP, date(2026, 9, 4)),) * 2

    # The same backfill again, rerunning the completed runs: nothing changes.
    again = _backfill(live_stack, "2026-09-02", "2026-09-04", "completed")
    runs = _wait_backfill(live_stack, again["id"], "2026-09-02", "2026-09-04")
    assert [r["state"] for r in runs] == ["success"] * 3
    live_stack.wait_idle()
    assert _ledger(live_stack) == ledger
    assert _events(live_stack) == events


def test_cli_backfill_loads_its_day(live_stack: LiveStack) -> None:
    from stack import run_airflow_cli

    # As the README says: scripts/stack.py airflow -- backfill create ...
    args = ["backfill", "create", "--dag-id", "usage_ingest"]
    rc = run_airflow_cli(
        live_stack.cfg, [*args, "--from-date", "2026-09-05", "--to-date", "2026-09-05"]
    )
    assert rc == 0
    (backfill,) = live_stack.api.get(
        "/api/v2/backfills", params={"dag_id": "usage_ingest", "order_by": "-id", "limit": 1}
    )["backfills"]
    assert backfill["from_date"].startswith("2026-09-05")
    runs = _wait_backfill(live_stack, backfill["id"], "2026-09-05", "2026-09-05")
    assert [r["state"] for r in runs] == ["success"]
    live_stack.wait_idle()
    assert sorted(_ledger(live_stack)) == _keys_for(SEP, date(2026, 9, 5))
    assert _events(live_stack) == (_expected_events(SEP, date(2026, 9, 5)),) * 2


def test_reprocess_a_day_replaces_its_rows(live_stack: LiveStack) -> None:
    before_ledger = _ledger(live_stack)
    before_events = _events(live_stack)
    day2 = set(_keys_for(date(2026, 9, 2), date(2026, 9, 2)))
    run_id = live_stack.trigger(
        {"start_date": "2026-09-02", "end_date": "2026-09-02", "force": True}
    )
    assert live_stack.wait_for_run(run_id) == "success", live_stack.task_states(run_id)
    live_stack.wait_idle()
    after = _ledger(live_stack)
    assert sorted(after) == sorted(before_ledger)
    for key in after:
        reloaded = after[key][1] > before_ledger[key][1]
        assert reloaded == (key in day2), key
    assert _events(live_stack) == before_events  # replaced, not duplicated


def test_dry_run_lists_and_loads_nothing(live_stack: LiveStack) -> None:
    before = _ledger(live_stack)
    run_id = live_stack.trigger({"start_date": "2026-09-06", "dry_run": True})
    assert live_stack.wait_for_run(run_id) == "success", live_stack.task_states(run_id)
    log = live_stack.task_log(run_id, "discover")
    for key in _keys_for(date(2026, 9, 6), date(2026, 9, 6)):
        assert f"would_load=s3://usage/{key}" in log
    live_stack.wait_idle()
    assert _ledger(live_stack) == before


def test_a_bad_file_fails_the_run_naming_file_and_reason(live_stack: LiveStack) -> None:
    bad_key = "ingest/usage/dt=2026-09-07/broken-export.bin"
    live_stack.s3().put_object(Bucket="usage", Key=bad_key, Body=b"\x00\x01 this is not usage data")
    run_id = live_stack.trigger({"start_date": "2026-09-07"})
    assert live_stack.wait_for_run(run_id) == "failed"
    states = live_stack.task_states(run_id)
    assert states["check_failures[-1]"] == "failed"
    assert states["report[-1]"] == "success"  # the good files of the day loaded

    ledger = _ledger(live_stack)
    assert ledger[bad_key][0] == "failed"
    assert all(ledger[k][0] == "loaded" for k in _keys_for(date(2026, 9, 7), date(2026, 9, 7)))
    reason = live_stack.query("SELECT error FROM ingest_ledger WHERE source_key = ?", [bad_key])[0][
        0
    ]
    assert f"s3://usage/{bad_key}" in reason

    log = live_stack.task_log(run_id, "check_failures")
    assert f"s3://usage/{bad_key}" in log and reason in log.replace("\\n", "\n")

    # The DAG-level failure callback posted an alert naming the file and why.
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(a["run_id"] == run_id for a in live_stack.alerts):
        time.sleep(2)
    (alert,) = [a for a in live_stack.alerts if a["run_id"] == run_id]
    assert alert["dag_id"] == "usage_ingest"
    assert f"s3://usage/{bad_key}" in alert["text"]
    assert [f["uri"] for f in alert["failed_files"]] == [f"s3://usage/{bad_key}"]
