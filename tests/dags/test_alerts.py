"""A failed run of any meterhouse DAG alerts through the plugin's listener (dag.test() runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.alert_sink import AlertSink
from tests.conftest import BUCKET, DAGS

pytestmark = [pytest.mark.dags]


def _dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def test_a_failed_rollup_run_alerts_naming_the_task(
    airflow_db: None, warehouse_env: Path, tmp_path: Path, alert_webhook: AlertSink
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "rate_id,meter_name,currency,unit_price,effective_from\ncpu,cpu_core_hours,USD,abc,2024-01-01\n"
    )
    dag = _dag("usage_rollup")
    assert dag.test(run_conf={}).state == "success"
    assert alert_webhook.received == []  # a good run sends nothing

    run = dag.test(run_conf={"rate_card": str(bad)})
    assert run.state == "failed"
    (alert,) = alert_webhook.received
    assert (alert["dag_id"], alert["run_id"]) == ("usage_rollup", run.run_id)
    assert (alert["reason"], alert["failed_task"], alert["failed_files"]) == (
        "task_failure",
        "load_rate_card",
        [],
    )


def test_a_failed_ingest_run_alerts_with_every_failed_file(
    airflow_db: None, s3: Any, warehouse_env: Path, alert_webhook: AlertSink
) -> None:
    bad_key = "ingest/usage/dt=2026-09-07/broken-export.bin"
    s3.put_object(Bucket=BUCKET, Key=bad_key, Body=b"\x00\x01 this is not usage data")
    s3.put_object(
        Bucket=BUCKET,
        Key="ingest/usage/dt=2026-09-07/good.ndjson",
        Body=b'{"customerId": "c1", "meterApiName": "cpu", "meterValue": 1, '
        b'"meterTimeInMillis": 1788739200000, "uniqueId": "u1"}\n',
    )
    run = _dag("usage_ingest").test(
        logical_date=pendulum.datetime(2026, 11, 5, tz="UTC"), run_conf={"start_date": "2026-09-07"}
    )
    assert run.state == "failed"
    assert run.get_task_instance("report").state == "success"
    (alert,) = alert_webhook.received
    assert (alert["dag_id"], alert["run_id"], alert["failed_task"]) == (
        "usage_ingest",
        run.run_id,
        "check_failures",
    )
    assert [f["uri"] for f in alert["failed_files"]] == [f"s3://{BUCKET}/{bad_key}"]
    assert f"- s3://{BUCKET}/{bad_key}: " in alert["text"]


def test_the_alert_leaves_the_callers_scoped_session_untouched(
    airflow_db: None, warehouse_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler calls the listener holding the run, and its own uncommitted work, in its
    thread's scoped session, and goes on with both after: the alert must not commit, close or
    detach them. It looks up the alert connection, which goes through Airflow's metastore when
    there is none (`meterhouse_alerts` unset here), ending the scoped session it runs in."""
    from types import SimpleNamespace

    from airflow import settings
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.pool import Pool
    from sqlalchemy import select

    from meterhouse_airflow import listener

    monkeypatch.delenv("AIRFLOW_CONN_METERHOUSE_ALERTS", raising=False)
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # as in the scheduler
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(DagBag(dag_folder=str(DAGS)), "dags-folder", None)
    session = settings.Session()
    pool = session.scalars(select(Pool).where(Pool.pool == "meterhouse_warehouse")).one()
    pool.description = "changed, not committed"  # the caller's transaction, still open
    run = SimpleNamespace(dag_id="focus_export", run_id="scheduled__alert_session")
    try:
        listener.on_dag_run_failed(run, "task_failure")  # type: ignore[arg-type]
        assert pool in session  # still attached: the caller can go on with it
        assert pool.description == "changed, not committed"
        with settings.Session.session_factory() as other:
            stored = other.scalars(
                select(Pool.description).where(Pool.pool == "meterhouse_warehouse")
            )
            assert stored.one() == "one warehouse writer"  # nothing was committed for the caller
    finally:
        session.rollback()
        settings.Session.remove()
