"""wait_for_exports waits for exports the ledger has not loaded, in the run's scope (dag.test()
runs: the trigger runs inline, so its own deadline is what ends a run with nothing new)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import BUCKET, DAGS

pytestmark = [pytest.mark.dags]

DAY = "ingest/usage/dt=2026-09-02"
RECORD = (
    b'{"customerId": "c1", "meterApiName": "cpu", "meterValue": %d, '
    b'"meterTimeInMillis": 1788307200000, "uniqueId": "%s"}\n'
)


def _dag(timeout_s: int = 6) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.get_dag("usage_ingest")
    sensor = dag.get_task("wait_for_exports")
    sensor.timeout, sensor.poke_interval = timeout_s, 1
    return dag


def _run(conf: dict[str, Any], day: int) -> tuple[Any, float]:
    started = time.monotonic()
    run = _dag().test(logical_date=pendulum.datetime(2026, 11, day, tz="UTC"), run_conf=conf)
    return run, time.monotonic() - started


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _loaded(warehouse: Path) -> dict[str, str]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT source_key, etag FROM ingest_ledger WHERE status = 'loaded'").fetchall()
    return dict(rows)


def _load_day(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{DAY}/a.ndjson", Body=RECORD % (1, b"a1"))
    run, _ = _run({"start_date": "2026-09-02"}, 1)
    assert run.state == "success" and _states(run)["wait_for_exports"] == "success"


def test_nothing_new_waits_until_the_timeout_then_the_run_is_skipped(
    airflow_db: None, s3: Any, warehouse_env: Path
) -> None:
    _load_day(s3)
    before = _loaded(warehouse_env)
    # Everything of the day is loaded: the sensor waits its 6 s, then soft-fails.
    run, seconds = _run({"start_date": "2026-09-02"}, 2)
    assert run.state == "success"  # a skipped run is not a failure
    states = _states(run)
    assert states["wait_for_exports"] == "skipped"
    assert {states[t] for t in ("discover", "report", "check_failures")} == {"skipped"}
    assert seconds >= 6
    assert _loaded(warehouse_env) == before


def test_an_object_arriving_while_it_waits_is_loaded(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    _load_day(s3)
    # Three seconds into the run a new export of the day lands; the run waits for it, loads it.
    late = threading.Timer(3, lambda: s3.put_object(Bucket=BUCKET, Key=f"{DAY}/b.ndjson", Body=RECORD % (2, b"b1")))
    late.start()
    run, seconds = _run({"start_date": "2026-09-02"}, 3)
    late.join()
    assert run.state == "success"
    assert _states(run)["wait_for_exports"] == "success"
    assert run.get_task_instance("wait_for_exports").xcom_pull(task_ids="wait_for_exports") == [f"s3://{BUCKET}/{DAY}/b.ndjson"]
    assert set(_loaded(warehouse_env)) == {f"{DAY}/a.ndjson", f"{DAY}/b.ndjson"}
    assert seconds >= 3


def test_a_changed_object_counts_as_new(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    _load_day(s3)
    old_etag = _loaded(warehouse_env)[f"{DAY}/a.ndjson"]
    s3.put_object(Bucket=BUCKET, Key=f"{DAY}/a.ndjson", Body=RECORD % (5, b"a1"))  # corrected export
    run, _ = _run({"start_date": "2026-09-02"}, 4)
    assert _states(run)["wait_for_exports"] == "success"
    assert _loaded(warehouse_env)[f"{DAY}/a.ndjson"] != old_etag


def test_new_objects_outside_the_runs_window_do_not_count(
    airflow_db: None, s3: Any, warehouse_env: Path
) -> None:
    _load_day(s3)
    s3.put_object(Bucket=BUCKET, Key="ingest/usage/dt=2026-09-20/c.ndjson", Body=RECORD % (3, b"c1"))
    run, _ = _run({"start_date": "2026-09-02"}, 5)
    assert _states(run)["wait_for_exports"] == "skipped"
    assert "ingest/usage/dt=2026-09-20/c.ndjson" not in _loaded(warehouse_env)
    # Reprocessing (force) the loaded day does not wait: every object in scope counts.
    run, _ = _run({"start_date": "2026-09-02", "force": True}, 6)
    assert _states(run)["wait_for_exports"] == "success"
