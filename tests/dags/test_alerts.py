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
