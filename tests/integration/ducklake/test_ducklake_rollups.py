"""Rating and rollups on a DuckLake: the same events, ingested into a DuckDB file and into a
DuckLake and rolled up with the example rate card, give the same rated events and cost rows to
the last decimal; a rollup waits for the writers' commit lock like a load does."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import ingest
from etl.jobs.rollup import load_rate_card, plan_rollup, rollup, run_rollup
from etl.samples.amberflo import generate_amberflo_exports
from etl.settings import Settings
from etl.warehouse import Warehouse
from etl.warehouse.ducklake import commit_lock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
CARD = str(ROOT / "examples" / "rate_card.yaml")
# Across the example card's price change for cpu_core_hours (2026-07-01) and a month boundary.
START = date(2026, 6, 28)

# Every column of the rating and rollup tables a user reads, in a stable order; the times a
# run stamps (loaded_at, rolled_up_at) are left out.
TABLES = {
    "rated_events": "SELECT * FROM rated_events ORDER BY ALL",
    "cost_daily": "SELECT * FROM cost_daily ORDER BY ALL",
    "cost_monthly": "SELECT * FROM cost_monthly ORDER BY ALL",
    "rate_card": "SELECT * FROM rate_card ORDER BY ALL",
    "rate_adjustments": "SELECT * FROM rate_adjustments ORDER BY ALL",
    "rate_card_loads": "SELECT * EXCLUDE (loaded_at, rerated_at), rerated_at IS NOT NULL "
    "FROM rate_card_loads ORDER BY ALL",
    "rollup_state": "SELECT * EXCLUDE (rolled_up_at, max_ingested_at) FROM rollup_state ORDER BY ALL",
    "cost_by_customer_month": "SELECT * FROM cost_by_customer_month ORDER BY ALL",
    "top_meters_by_cost": "SELECT * FROM top_meters_by_cost ORDER BY ALL",
    "unrated_usage": "SELECT * FROM unrated_usage ORDER BY ALL",
    "types": """SELECT table_name, column_name, data_type FROM information_schema.columns
                WHERE table_name IN ('rated_events', 'cost_daily', 'cost_monthly', 'rate_card',
                                     'rollup_state') ORDER BY ALL""",
}


def _write_exports(folder: Path, days: int = 6) -> str:
    for key, data in generate_amberflo_exports(start=START, days=days, customers=6, seed=11):
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(folder)


def _snapshot(settings: Settings) -> dict[str, list[tuple[str, ...]]]:
    """Each table's rows with every value as text: Decimal('1.50') and Decimal('1.5') differ."""
    warehouse = Warehouse.of(settings)
    return {
        name: [tuple(str(v) for v in row) for row in warehouse.query(sql)[1]]
        for name, sql in TABLES.items()
    }


def _rolled_up(settings: Settings, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    report = ingest([source], settings)
    assert report.totals()["failed"] == 0
    loaded = load_rate_card(CARD, settings=settings)
    return loaded, rollup(rerate=True, settings=settings)


def test_rollup_on_ducklake_equals_the_duckdb_file(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write_exports(tmp_path / "src")
    lake = Settings.from_env()
    lake_card, lake_report = _rolled_up(lake, source)
    on_lake = _snapshot(lake)
    # Nothing changed since: nothing is pending (rollup_state's fingerprints survive the
    # round trip through the DuckLake's Parquet files exactly).
    assert plan_rollup(settings=lake) == []

    for name in ducklake_env:
        monkeypatch.delenv(name)
    file = Settings.from_env(tmp_path / "file" / "warehouse.duckdb")
    file_card, file_report = _rolled_up(file, source)
    on_file = _snapshot(file)

    assert lake_card == file_card
    assert lake_report == file_report
    assert lake_report["rated"] > 200 and lake_report["cost_by_currency"]["USD"] != "0"
    assert len(lake_report["days"]) == 6 and lake_report["months"] == ["2026-06-01", "2026-07-01"]
    for name in TABLES:
        assert on_lake[name] == on_file[name], name
    # The DuckLake's rows really are the DuckLake's: no DuckDB file or Parquet lake was made.
    assert not lake.warehouse_path.exists() and not lake.lake_path.exists()


def test_late_events_rebuild_the_same_days_on_both(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _write_exports(tmp_path / "first", days=3)
    late = tmp_path / "late" / "late.ndjson"
    late.parent.mkdir()
    late.write_text(
        '{"uniqueId": "late-1", "customerId": "cust-0001", "meterApiName": "gpu_hours", '
        '"meterValue": "2.5", "meterTimeInMillis": 1782734400000, '
        '"dimensions": {"gpu_model": "H100-SXM-80GB", "datacenter": "fra1"}}\n'
    )

    def run(settings: Settings) -> tuple[list[str], dict[str, list[tuple[str, ...]]]]:
        _rolled_up(settings, first)
        ingest([str(late)], settings)
        days = plan_rollup(settings=settings)
        run_rollup(days, settings=settings)
        return days, _snapshot(settings)

    lake_days, on_lake = run(Settings.from_env())
    for name in ducklake_env:
        monkeypatch.delenv(name)
    file_days, on_file = run(Settings.from_env(tmp_path / "file" / "warehouse.duckdb"))
    assert lake_days == file_days == ["2026-06-29"]
    assert on_lake == on_file
    assert ("late-1", "2026-06-29", "rated", "gpu-h100-fra1") == on_lake["rated_events"][
        [r[0] for r in on_lake["rated_events"]].index("late-1")
    ][:4]


def test_a_rollup_waits_for_the_writers_commit_lock(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings.from_env()
    ingest([_write_exports(tmp_path / "src", days=1)], settings)
    load_rate_card(CARD, settings=settings)
    days = plan_rollup(settings=settings)
    assert settings.ducklake is not None
    done: list[dict[str, Any]] = []
    with commit_lock(settings.ducklake):  # a load transaction in progress elsewhere
        worker = threading.Thread(target=lambda: done.append(run_rollup(days, settings=settings)))
        worker.start()
        time.sleep(3)
        assert done == []  # it has not written while the lock was held
        assert Warehouse.of(settings).query("SELECT count(*) FROM cost_daily")[1] == [(0,)]
    worker.join(120)
    assert done and done[0]["rated"] > 0
    assert Warehouse.of(settings).query("SELECT count(*) FROM cost_daily")[1][0][0] > 0
