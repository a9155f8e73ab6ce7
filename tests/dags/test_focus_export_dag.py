"""focus_export through Airflow: monthly schedule, Params form, a dag.test() run writing FOCUS."""

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
    return bag.get_dag("focus_export")


def test_focus_export_dag_is_monthly_with_optional_fields(airflow_db: None) -> None:
    dag = _dag()
    assert {t.task_id for t in dag.tasks} == {"export_focus"}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    params = dag.params
    assert {name: params.get_param(name).value for name in params} == {"month": None, "out": None}


def test_dag_writes_the_month_as_focus(
    airflow_db: None, warehouse_env: Path, tmp_path: Path
) -> None:
    import polars as pl

    from etl.jobs.ingest import ingest
    from etl.jobs.rollup import load_rate_card, rollup
    from etl.samples.amberflo import generate_amberflo_exports
    from etl.settings import Settings

    src = tmp_path / "src"
    for key, data in generate_amberflo_exports(
        start=date(2026, 10, 1), days=2, customers=5, seed=5
    ):
        path = src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    settings = Settings.from_env(warehouse_env)
    ingest([str(src)], settings)
    load_rate_card(str(ROOT / "examples" / "rate_card.yaml"), settings=settings)
    rollup(settings=settings)

    out = tmp_path / "focus"
    run = _dag().test(run_conf={"month": "2026-10", "out": str(out)})
    assert run.state == "success"
    frame = pl.read_parquet(out / "focus-2026-10.parquet")
    assert frame.height > 0
    assert set(frame["BillingPeriodStart"]) == {"2026-10-01T00:00:00Z"}
    assert (out / "focus-2026-10.csv").exists()

    # Without a target the task fails at once, naming the setting.
    failed = _dag().test(run_conf={"month": "2026-10"})
    assert failed.state == "failed"
