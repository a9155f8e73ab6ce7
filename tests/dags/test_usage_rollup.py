"""usage_rollup through Airflow: schedule on the warehouse Asset, Params form, dag.test() runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DAGS, ROOT

pytestmark = [pytest.mark.dags]


def _dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.get_dag("usage_rollup")


def _ingest_sample(warehouse: Path, tmp_path: Path) -> None:
    from etl.jobs.ingest import ingest
    from etl.samples.amberflo import generate_amberflo_exports
    from etl.settings import Settings

    src = tmp_path / "src"
    for key, data in generate_amberflo_exports(
        start=date(2026, 10, 1), days=3, customers=10, seed=5
    ):
        path = src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    ingest([str(src)], Settings.from_env(warehouse))


def test_rollup_dag_is_scheduled_on_the_warehouse_asset(airflow_db: None) -> None:
    dag = _dag()
    assert {t.task_id for t in dag.tasks} == {"load_rate_card", "plan_days", "rebuild", "report"}
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["meterhouse_warehouse"]
    assert dag.get_task("rebuild").pool == "meterhouse_warehouse"
    assert set(dag.params) == {"from_date", "to_date", "rate_card", "rerate"}


def test_every_form_field_is_optional_and_keeps_its_default(airflow_db: None) -> None:
    # The trigger form marks a typed field required unless its type admits null.
    params = _dag().params
    assert {name: params.get_param(name).value for name in params} == {
        "from_date": None,
        "to_date": None,
        "rate_card": None,
        "rerate": False,
    }
    assert [n for n in params if "null" not in params.get_param(n).schema["type"]] == []


def test_dag_loads_a_rate_card_and_rolls_up_the_changed_days(
    airflow_db: None, warehouse_env: Path, tmp_path: Path
) -> None:
    import duckdb

    _ingest_sample(warehouse_env, tmp_path)
    dag = _dag()
    run = dag.test(run_conf={"rate_card": str(ROOT / "examples" / "rate_card.yaml")})
    assert run.state == "success"
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        days = con.execute(
            "SELECT count(DISTINCT event_date), sum(event_count) FROM cost_daily"
        ).fetchone()
        events = con.execute("SELECT count(*) FROM meter_events").fetchone()[0]
        monthly = con.execute("SELECT sum(cost) FROM cost_monthly").fetchone()[0]
        rated = con.execute("SELECT sum(rated_cost) FROM rated_events").fetchone()[0]
        snapshot = con.execute("SELECT * FROM cost_daily ORDER BY ALL").fetchall()
    assert days == (3, events)
    assert monthly == rated and monthly > 0

    # Asset-triggered again with nothing new: nothing to rebuild, nothing changes.
    assert dag.test().state == "success"
    # A manual range re-rates those days; replaced, not incremented.
    assert (
        dag.test(run_conf={"from_date": "2026-10-02", "to_date": "2026-10-03"}).state == "success"
    )
    with duckdb.connect(str(warehouse_env), read_only=True) as con:
        assert con.execute("SELECT * FROM cost_daily ORDER BY ALL").fetchall() == snapshot


def test_dag_fails_on_a_bad_range_or_rate_card(
    airflow_db: None, warehouse_env: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "rate_id,meter_name,currency,unit_price,effective_from\ncpu,cpu_core_hours,USD,abc,2024-01-01\n"
    )
    dag = _dag()
    run = dag.test(run_conf={"rate_card": str(bad)})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["load_rate_card"] == "failed"
    run = dag.test(run_conf={"from_date": "2026-10-05", "to_date": "2026-10-01"})
    assert run.state == "failed"
