"""The Usage & cost page's figures on a tiny lake built by real ingest + rollup, each compared
with SQL of its own over the published Parquet files (DuckDB reading views.sql, not etl)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.usage_report import ReportFilters, usage_report
from tests.integration.usage_lake import METERS, build_usage_lake

pytestmark = [pytest.mark.integration]
D = Decimal


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_usage_lake(tmp_path_factory.mktemp("report"))


def _sql(settings: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """The same question asked of the lake's Parquet files directly, through views.sql."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET file_search_path = ?", [str(settings.lake_path)])
    con.execute((settings.lake_path / "views.sql").read_text())
    return con.execute(sql, params or []).fetchall()


FILTERS = ReportFilters(start=date(2026, 9, 1), end=date(2026, 10, 20))


def test_cost_per_day_and_meter_equals_the_lake(lake: Any) -> None:
    report = usage_report(FILTERS, lake)
    assert report["state"] == "ok"
    got = {(r["day"], r["currency"], r["meter"]): r["cost"] for r in report["cost_by_day"]}
    expected = _sql(
        lake,
        "SELECT event_date, currency, meter_name, sum(cost) FROM cost_daily "
        "WHERE event_date BETWEEN '2026-09-01' AND '2026-10-20' AND cost IS NOT NULL GROUP BY ALL",
    )
    assert got == {(d, cur, m): cost for d, cur, m, cost in expected}
    assert {cur for _, cur, _ in got} == {"USD", "EUR"}
    assert "quantum_hours" not in {m for _, _, m in got}
    assert max(d for d, _, _ in got) == date(2026, 10, 20)
    assert report["options"] == {
        "customer": ["c1", "c2", "c3", "c4"],
        "currency": ["EUR", "USD"],
        "meter": sorted(METERS),
    }


def test_top_customers_and_month_to_date_equal_the_lake(lake: Any) -> None:
    report = usage_report(FILTERS, lake, top=3)
    per = (
        "SELECT currency, customer_id, sum(cost) AS cost FROM cost_daily WHERE event_date "
        "BETWEEN ? AND ? AND cost IS NOT NULL GROUP BY ALL ORDER BY currency, cost DESC, customer_id"
    )

    def top3(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for cur in sorted({r[0] for r in rows}):
            out += [r for r in rows if r[0] == cur][:3]
        return out

    this = _sql(lake, per, ["2026-10-01", "2026-10-20"])
    last = _sql(lake, per, ["2026-09-01", "2026-09-30"])
    shown = report["top_customers"]
    assert [(r["currency"], r["customer"], r["cost"]) for r in shown["this_month"]] == top3(this)
    assert [(r["currency"], r["customer"], r["cost"]) for r in shown["last_month"]] == top3(last)

    mtd = {r["currency"]: r for r in report["month_to_date"]}
    for cur in ("EUR", "USD"):
        (now,) = _sql(lake, "SELECT sum(cost) FROM cost_daily WHERE currency = ? AND event_date "
                      "BETWEEN '2026-10-01' AND '2026-10-20'", [cur])  # fmt: skip
        (before,) = _sql(lake, "SELECT sum(cost) FROM cost_daily WHERE currency = ? AND event_date "
                         "BETWEEN '2026-09-01' AND '2026-09-20'", [cur])  # fmt: skip
        assert (mtd[cur]["this_period"], mtd[cur]["previous_period"]) == (now[0], before[0])
        assert mtd[cur]["change_pct"] == (now[0] - before[0]) * 100 / before[0]


def test_filters_narrow_every_cost_figure(lake: Any) -> None:
    narrow = ReportFilters(
        start=date(2026, 9, 1), end=date(2026, 10, 20), customer="c2", meter="power_kwh",
        currency="USD",
    )  # fmt: skip
    report = usage_report(narrow, lake)
    expected = _sql(
        lake,
        "SELECT event_date, sum(cost) FROM cost_daily WHERE customer_id = 'c2' AND "
        "meter_name = 'power_kwh' AND currency = 'USD' AND cost IS NOT NULL AND event_date "
        "BETWEEN '2026-09-01' AND '2026-10-20' GROUP BY ALL",
    )
    assert {r["day"]: r["cost"] for r in report["cost_by_day"]} == dict(expected)
    assert {r["meter"] for r in report["cost_by_day"]} == {"power_kwh"}
    assert [r["customer"] for r in report["top_customers"]["this_month"]] == ["c2"]
    # fra1 power costs 0.21 per kWh: the customer's cost is that price times its kWh.
    ((kwh,),) = _sql(lake, "SELECT sum(quantity) FROM meter_events WHERE customer_id = 'c2' AND "
                     "meter_name = 'power_kwh' AND event_date BETWEEN '2026-10-01' AND '2026-10-20'")  # fmt: skip
    assert report["top_customers"]["this_month"][0]["cost"] == kwh * D("0.21")
    unrated_only = usage_report(
        ReportFilters(start=date(2026, 9, 1), end=date(2026, 10, 20), meter="quantum_hours"), lake
    )
    assert unrated_only["cost_by_day"] == []
    assert {r["meter"] for r in unrated_only["unrated"]} == {"quantum_hours"}


def test_ingest_health_rejects_and_failed_files_equal_the_lake(lake: Any) -> None:
    today = datetime.now(UTC).date()
    report = usage_report(ReportFilters(start=today, end=today), lake)
    (day,) = report["ingest_days"]
    assert (day["day"], day["loaded"], day["failed"], day["empty"]) == (today, 2, 1, 1)
    assert _sql(
        lake, "SELECT count(*) FILTER (WHERE status = 'loaded'), sum(rejected), sum(events_loaded) "
        "FROM ingest_ledger"
    ) == [(day["loaded"], day["rejected"], day["events_loaded"])]  # fmt: skip
    assert day["rejected"] == 3
    rules = {r["rule"]: r for r in report["rejects"]}
    expected = _sql(lake, "SELECT rule, count(*), min(reason) FROM rejected_rows GROUP BY rule")
    assert {rule: r["rows_rejected"] for rule, r in rules.items()} == {
        rule: n for rule, n, _ in expected
    }
    for rule, _, _ in expected:
        example = rules[rule]
        assert _sql(
            lake, "SELECT count(*) FROM rejected_rows WHERE rule = ? AND reason = ? AND "
            "source_uri = ? AND source_row = ?",
            [rule, example["example_reason"], example["example_uri"], example["example_row"]],
        ) == [(1,)]  # fmt: skip
        assert example["example_uri"].endswith("b.ndjson")
        assert example["run_id"] is None  # the ledger does not record runs (yet)
    (failed,) = report["failed_files"]
    assert failed["source_uri"].endswith("broken.bin")
    assert _sql(lake, "SELECT error FROM ingest_ledger WHERE status = 'failed'") == [
        (failed["error"],)
    ]
    # Nothing was loaded on the days of the cost range.
    assert usage_report(FILTERS, lake)["ingest_days"] == []


def test_unrated_usage_equals_the_lake(lake: Any) -> None:
    report = usage_report(FILTERS, lake)
    expected = _sql(
        lake,
        "SELECT meter_name, customer_id, sum(events), sum(quantity) FROM unrated_usage WHERE "
        "event_date BETWEEN '2026-09-01' AND '2026-10-20' GROUP BY ALL ORDER BY 3 DESC, 1, 2",
    )
    assert [(r["meter"], r["customer"], r["events"], r["quantity"]) for r in report["unrated"]] == [
        tuple(row) for row in expected
    ]
    assert report["unrated_events"] == sum(row[2] for row in expected) > 0
    ((events,),) = _sql(
        lake, "SELECT count(*) FROM meter_events WHERE meter_name = 'quantum_hours' AND "
        "event_date BETWEEN '2026-09-01' AND '2026-10-20'"
    )  # fmt: skip
    assert report["unrated_events"] == events


def test_empty_and_missing_warehouses_are_states_not_errors(tmp_path: Path) -> None:
    from etl.settings import Settings

    missing = usage_report(FILTERS, Settings.from_env(tmp_path / "nowhere" / "w.duckdb"))
    assert missing["state"] == "missing"
    assert "no warehouse at" in missing["message"]
    assert not (tmp_path / "nowhere").exists()


def test_a_warehouse_with_nothing_loaded_is_the_empty_state(tmp_path: Path) -> None:
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    Warehouse(settings.warehouse_path, settings.lake_path).publish_lake()
    report = usage_report(FILTERS, settings)
    assert report["state"] == "empty"
    assert report["message"].startswith("nothing is published yet")


def test_focus_findings_equal_the_lake(tmp_path: Path, lake: Any) -> None:
    """FOCUS rows loaded with a broken descriptive rule show per rule and column; a lake with
    no FOCUS export shows none."""
    import shutil

    from etl.jobs.ingest import ingest
    from etl.settings import Settings

    assert usage_report(FILTERS, lake)["focus_findings"] == []
    quirks = Path(__file__).resolve().parents[2] / "fixtures" / "focus" / "quirks"
    src = tmp_path / "exports"
    src.mkdir()
    for name in ("aws_credit_negative_unit_price.csv", "oracle_null_conventions.csv"):
        shutil.copy(quirks / name, src / name)
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    ingest([str(src)], settings)

    report = usage_report(ReportFilters(start=date(2024, 1, 1), end=date(2024, 12, 31)), settings)
    got = {
        (r["rule"], r["column_name"]): (r["findings"], r["files"]) for r in report["focus_findings"]
    }
    expected = _sql(
        settings,
        "SELECT rule, column_name, count(*), count(DISTINCT source_uri) FROM focus_conformance GROUP BY ALL",
    )
    assert got == {(rule, col): (n, files) for rule, col, n, files in expected}
    assert any(rule.endswith("non_negative") for rule, _ in got)
    assert any(col == "ContractedCost" for _, col in got)
