"""What people read on a DuckLake equals the DuckDB file's: the Usage & cost page's figures,
`meterhouse status` (table and JSON), `meterhouse runs`, `meterhouse sql` and
`meterhouse rate-card show`, on the same usage ingested and rolled up into each."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from etl.cli import main as cli
from etl.jobs.usage_report import ReportFilters, usage_report
from etl.settings import Settings
from tests.integration.usage_lake import build_usage_lake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FILTERS = [
    ReportFilters(start=date(2026, 9, 1), end=date(2026, 10, 20)),
    ReportFilters(start=date(2026, 10, 1), end=date(2026, 10, 25), currency="USD"),
]
SQL = (
    "SELECT customer_id, meter_name, currency, sum(cost) AS cost, sum(quantity) AS quantity "
    "FROM cost_daily GROUP BY ALL ORDER BY ALL"
)
# Times of the run itself (when it loaded, which run id) differ between the two runs.
_RUN_TIMES = {
    "last_loaded_at",
    "loaded_at",
    "started_at",
    "finished_at",
    "run_id",
    "seconds",
    "duration_s",
}


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in _RUN_TIMES}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _read(settings: Settings, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reports = [usage_report(f, settings) for f in FILTERS]
    out["report_places"] = [(r.pop("warehouse"), r.pop("lake")) for r in reports]
    out["reports"] = reports
    capsys.readouterr()
    for name, args in {
        "status": ["status"],
        "status_json": ["status", "--format", "json"],
        "runs": ["runs", "--format", "json"],
        "sql": ["sql", SQL],
        "sql_live": ["sql", "--live", SQL],
        "rate_card": ["rate-card", "show"],
    }.items():
        assert cli(args) == 0, name
        out[name] = capsys.readouterr().out
    status = json.loads(out.pop("status_json"))
    out["status_place"] = status.pop("warehouse")
    out["status_json"] = _without_times(status)
    out["runs"] = _without_times(json.loads(out["runs"]))
    # the table's first line names the warehouse; its last_load column is the run's time
    first, *rest = out.pop("status").splitlines()
    out["status_name"] = first
    out["status"] = [line.rsplit(" ", 3)[0] if line[:1].islower() else line for line in rest]
    return out


def test_page_status_runs_and_sql_read_the_same(
    s3: Any,
    ducklake_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    lake = build_usage_lake(tmp_path)
    assert lake.ducklake is not None
    on_lake = _read(lake, capsys)

    for name in ducklake_env:
        monkeypatch.delenv(name)
    shutil.rmtree(tmp_path / "src")  # the same files at the same paths
    file = build_usage_lake(tmp_path)
    monkeypatch.setenv("METERHOUSE_WAREHOUSE", str(file.warehouse_path))
    on_file = _read(file, capsys)

    place = f"ducklake {lake.ducklake.data_path}"
    assert on_lake.pop("report_places") == [(place, place)] * 2
    assert on_file.pop("report_places") == [(str(file.warehouse_path), str(file.lake_path))] * 2
    assert on_lake.pop("status_place") == place
    assert on_file.pop("status_place") == str(file.warehouse_path)
    assert on_lake.pop("status_name") == f"warehouse {place}"
    assert on_file.pop("status_name") == f"warehouse {file.warehouse_path}"
    for name in on_lake:
        assert on_lake[name] == on_file[name], name
    assert [r["state"] for r in on_lake["reports"]] == ["ok", "ok"]
    assert on_lake["reports"][0]["cost_by_day"] and "c1" in on_lake["sql"]


def test_the_page_says_when_the_ducklake_is_not_made_yet(ducklake_env: dict[str, str]) -> None:
    report = usage_report(FILTERS[0], Settings.from_env())
    assert report["state"] == "missing"
    assert "no DuckLake in the catalog of METERHOUSE_DUCKLAKE_CATALOG" in report["message"]
