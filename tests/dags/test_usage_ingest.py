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
    assert sensor.deferrable is True and sensor.timeout == 60
    assert dag.get_task("ingest_batch").pool == "meterhouse_warehouse"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


def test_dag_run_ingests_from_local_s3(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    import duckdb

    from etl.generate import generate_amberflo_exports, summarize_exports

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

    # A second run finds nothing new and changes nothing.
    run2 = dag.test(logical_date=pendulum.datetime(2026, 10, 3, tz="UTC"))
    assert run2.state == "success"
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM meter_events").fetchone()[0] == summary.distinct_event_ids
