"""The warehouse Asset event of a usage_ingest run names the days it changed (dag.test() run,
events read back from Airflow's metadata DB); usage_rollup turns triggering events into days."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from tests.conftest import BUCKET, DAGS

pytestmark = [pytest.mark.dags]

RECORD = (
    b'{"customerId": "c1", "meterApiName": "cpu", "meterValue": 1, '
    b'"meterTimeInMillis": %d, "uniqueId": "%s"}\n'
)


def test_the_ingest_asset_event_names_the_changed_days_and_months(
    airflow_db: None, s3: Any, warehouse_env: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    day = 86_400_000
    sep30 = 1790726400000  # 2026-09-30T00:00Z
    s3.put_object(Bucket=BUCKET, Key="ingest/usage/dt=2026-09-30/a.ndjson", Body=RECORD % (sep30 + 3600_000, b"a"))
    s3.put_object(Bucket=BUCKET, Key="ingest/usage/dt=2026-10-01/b.ndjson", Body=RECORD % (sep30 + day + 60_000, b"b"))
    dag = DagBag(dag_folder=str(DAGS)).get_dag("usage_ingest")
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 20, tz="UTC"), run_conf={"start_date": "2026-09-30", "end_date": "2026-10-01"})
    assert run.state == "success"
    with create_session() as session:
        (event,) = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).all()
        assert event.asset.uri == "file:///meterhouse/warehouse/meter_events"
        extra = dict(event.extra)
    assert extra == {
        "dates": ["2026-09-30", "2026-10-01"],
        "months": ["2026-09", "2026-10"],
        "files": 2,
        "failed": 0,
        "events_loaded": 2,
    }


def test_the_rollup_takes_the_union_of_the_triggering_events_dates() -> None:
    from meterhouse_airflow.config import WAREHOUSE_ASSET
    from meterhouse_airflow.rollup_tasks import changed_days

    def events(*extras: dict[str, Any]) -> dict[Any, list[Any]]:
        return {WAREHOUSE_ASSET: [SimpleNamespace(extra=e) for e in extras]}

    assert changed_days(events({"dates": ["2026-09-02"]}, {"dates": ["2026-09-01", "2026-09-02"]})) == ["2026-09-01", "2026-09-02"]
    assert changed_days(events({"dates": []})) == []  # a run that changed nothing
    assert changed_days(events({"dates": ["2026-09-02"]}, {})) is None  # an event that does not say: all pending
    assert changed_days(None) is None and changed_days({}) is None  # a manual run
