"""FOCUS exports of every version, CSV and Parquet, through the usage_ingest DAG (dag.test())."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pendulum
import pytest

from etl.samples.focus import generate_focus_exports
from tests.conftest import BUCKET, DAGS
from tests.integration.test_focus_ingest import _source_totals

pytestmark = [pytest.mark.dags]


def test_focus_exports_flow_through_the_dag_with_exact_totals(airflow_db: None, s3: Any, warehouse_env: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    exports = [(f"ingest/{key}", data) for key, data in generate_focus_exports(start=date(2026, 10, 1), days=31, seed=4)]
    for key, data in exports:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    dag = DagBag(dag_folder=str(DAGS)).get_dag("usage_ingest")
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 1, tz="UTC"))
    assert run.state == "success"

    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        got = con.execute(
            """SELECT "BillingAccountId", strftime("BillingPeriodStart", '%Y-%m-%d'), "BillingCurrency",
                      sum("BilledCost"), sum("EffectiveCost")
               FROM focus_line_items GROUP BY ALL"""
        ).fetchall()
        formats = dict(con.execute("SELECT source_format, count(*) FROM meter_events GROUP BY 1").fetchall())
        versions = {r[0] for r in con.execute('SELECT DISTINCT "x_focus_version" FROM focus_line_items').fetchall()}
    assert {(a, p, c): (b, e) for a, p, c, b, e in got} == _source_totals(exports)
    assert set(formats) == {"focus_csv", "focus_parquet"}
    assert versions == {"1.0", "1.1", "1.2"}
