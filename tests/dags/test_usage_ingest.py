"""usage_ingest through Airflow: DagBag integrity and a real dag.test() run against local S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import BUCKET, DAGS

pytestmark = [pytest.mark.dags]


def _dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dags_import_without_errors(airflow_db: None) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    dag = bag.get_dag("usage_ingest")
    assert dag is not None
    assert {t.task_id for t in dag.tasks} == {"wait_for_exports", "discover", "ingest_batch", "report", "check_failures"}
    sensor = dag.get_task("wait_for_exports")
    assert type(sensor).__name__ == "NewExportsSensor" and sensor.soft_fail is True
    assert sensor.timeout == 60
    assert dag.get_task("ingest_batch").pool == "meterhouse_warehouse"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


def test_every_form_field_is_optional_and_keeps_its_default(airflow_db: None) -> None:
    # The trigger form marks a typed field required unless its type admits null.
    params = _dagbag().get_dag("usage_ingest").params
    assert {name: params.get_param(name).value for name in params} == {
        "start_date": None,
        "end_date": None,
        "sources": [],
        "force": False,
        "dry_run": False,
    }
    assert [n for n in params if "null" not in params.get_param(n).schema["type"]] == []


def test_dag_run_ingests_from_local_s3(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    import duckdb

    from etl.samples.amberflo import generate_amberflo_exports, summarize_exports

    exports = generate_amberflo_exports(start=pendulum.date(2026, 10, 1), days=2, customers=20, seed=3)
    for key, data in exports:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    summary = summarize_exports(exports)

    dag = _dagbag().get_dag("usage_ingest")
    run = dag.test(logical_date=pendulum.datetime(2026, 10, 2, tz="UTC"))
    assert run.state == "success"
    # A manual run at time T covers the last complete day before T: [D-1, D).
    assert (run.data_interval_start, run.data_interval_end) == (
        pendulum.datetime(2026, 10, 1, tz="UTC"),
        pendulum.datetime(2026, 10, 2, tz="UTC"),
    )

    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        events = con.execute("SELECT count(*), count(DISTINCT event_id) FROM meter_events").fetchone()
        ledger = con.execute(
            "SELECT count(*), sum(rows_in), sum(events_loaded), sum(duplicates), sum(rejected) FROM ingest_ledger "
            "WHERE status = 'loaded'"
        ).fetchone()
    assert events == (summary.distinct_event_ids, summary.distinct_event_ids)
    assert ledger == (summary.files, summary.records, summary.distinct_event_ids, summary.duplicate_records, 0)

    # A second run finds nothing new: its sensor waits (here 3 s), the run is skipped.
    dag.get_task("wait_for_exports").timeout = 3
    run2 = dag.test(logical_date=pendulum.datetime(2026, 10, 3, tz="UTC"))
    assert run2.state == "success"
    assert run2.get_task_instance("wait_for_exports").state == "skipped"
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM meter_events").fetchone()[0] == summary.distinct_event_ids


def _ledger(warehouse: Path) -> dict[str, tuple[str, str]]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT source_uri, status, CAST(loaded_at AS VARCHAR) FROM ingest_ledger").fetchall()
    return {uri: (status, loaded_at) for uri, status, loaded_at in rows}


def test_form_date_range_loads_only_those_days_and_force_replaces(
    airflow_db: None, s3: Any, warehouse_env: Path
) -> None:
    import duckdb

    from etl.samples.amberflo import generate_amberflo_exports, summarize_exports
    from etl.sources.windows import DateWindow, in_window

    exports = generate_amberflo_exports(start=pendulum.date(2026, 9, 1), days=3, customers=10, seed=5)
    for key, data in exports:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    day2 = DateWindow(pendulum.datetime(2026, 9, 2, tz="UTC"), pendulum.datetime(2026, 9, 3, tz="UTC"))
    day2_exports = [(k, d) for k, d in exports if in_window(k, day2)]
    assert 0 < len(day2_exports) < len(exports)
    expected = summarize_exports(day2_exports)

    # The form's single day wins over the run's own interval (which would be "everything new").
    # (A fresh DAG object per run: dag.test() keeps the previous run_conf in dag.params.)
    run = _dagbag().get_dag("usage_ingest").test(logical_date=pendulum.datetime(2026, 11, 1, tz="UTC"), run_conf={"start_date": "2026-09-02"})
    assert run.state == "success"
    first = _ledger(warehouse_env)
    assert sorted(first) == sorted(f"s3://{BUCKET}/{k}" for k, _ in day2_exports)
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM meter_events").fetchone()[0] == expected.distinct_event_ids

    # Reprocess the same day: every file is loaded again, its rows replaced, nothing duplicated.
    run = _dagbag().get_dag("usage_ingest").test(
        logical_date=pendulum.datetime(2026, 11, 2, tz="UTC"),
        run_conf={"start_date": "2026-09-02", "end_date": "2026-09-02", "force": True},
    )
    assert run.state == "success"
    second = _ledger(warehouse_env)
    assert sorted(second) == sorted(first)
    assert all(second[uri][1] > first[uri][1] for uri in first)  # loaded again
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM meter_events").fetchone() == (
            expected.distinct_event_ids,
            expected.distinct_event_ids,
        )

    # A dry run over day 3 lists what it would load and loads nothing.
    run = _dagbag().get_dag("usage_ingest").test(
        logical_date=pendulum.datetime(2026, 11, 3, tz="UTC"),
        run_conf={"start_date": "2026-09-03", "dry_run": True},
    )
    assert run.state == "success"
    planned = [o["key"] for batch in run.get_task_instance("discover").xcom_pull(task_ids="discover") for o in batch]
    day3 = DateWindow(pendulum.datetime(2026, 9, 3, tz="UTC"), pendulum.datetime(2026, 9, 4, tz="UTC"))
    assert sorted(planned) == sorted(k for k, _ in exports if in_window(k, day3))
    assert _ledger(warehouse_env) == second


def test_form_rejects_a_reversed_range(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="ingest/usage/dt=2026-09-01/a.ndjson", Body=b"")
    dag = _dagbag().get_dag("usage_ingest")
    run = dag.test(
        logical_date=pendulum.datetime(2026, 11, 4, tz="UTC"),
        run_conf={"start_date": "2026-09-03", "end_date": "2026-09-01"},
    )
    assert run.state == "failed"
    # The sensor works out the run's scope first: it fails at once, and nothing runs after it.
    assert run.get_task_instance("wait_for_exports").state == "failed"
    assert run.get_task_instance("discover").state == "upstream_failed"
    assert not warehouse_env.exists()
