"""FOCUS on a DuckLake: the fixture exports (every FOCUS version, the quirks, a large file
streamed in chunks) load into the same line items, conformance findings and reconciliation as
into the DuckDB file, and `meterhouse export focus` writes the same files from either."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from etl.jobs.export_focus import export_focus
from etl.jobs.focus_conformance import findings_by_rule, reconciliation
from etl.jobs.ingest import ingest
from etl.jobs.rollup import load_rate_card, rollup
from etl.samples.amberflo import generate_amberflo_exports
from etl.samples.focus import generate_focus_exports
from etl.settings import Settings
from etl.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "focus"
MONTH = date(2026, 6, 1)

TABLES = {
    "focus_line_items": "SELECT * EXCLUDE (ingested_at) FROM focus_line_items ORDER BY ALL",
    "focus_conformance": "SELECT * EXCLUDE (found_at) FROM focus_conformance ORDER BY ALL",
    "focus_reconciliation": "SELECT * EXCLUDE (reconciled_at) FROM focus_reconciliation "
    "ORDER BY ALL",
    "meter_events": "SELECT * EXCLUDE (ingested_at, event_key) FROM meter_events ORDER BY ALL",
    "rejected_rows": "SELECT * EXCLUDE (rejected_at) FROM rejected_rows ORDER BY ALL",
    "ledger": "SELECT source_uri, status, source_format, rows_in, events_loaded, duplicates, "
    "rejected, error FROM ingest_ledger ORDER BY ALL",
}


def _inputs(folder: Path) -> str:
    for path in [
        *FIXTURES.glob("*.csv"),
        *FIXTURES.glob("*.parquet"),
        *FIXTURES.glob("quirks/*.csv"),
    ]:
        target = folder / "fixtures" / path.relative_to(FIXTURES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    generated = generate_focus_exports(start=MONTH, days=10, seed=5)
    generated += generate_amberflo_exports(start=MONTH, days=4, customers=5, seed=3)
    for key, data in generated:
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(folder)


def _run(settings: Settings, source: str, out: Path) -> dict[str, Any]:
    ingest([source], settings)
    load_rate_card(str(ROOT / "examples" / "rate_card.yaml"), settings=settings)
    rollup(settings=settings)
    export = export_focus(settings, MONTH, str(out))
    warehouse = Warehouse.of(settings, create=False)
    tables = {
        name: [tuple(str(v) for v in row) for row in warehouse.query(sql)[1]]
        for name, sql in TABLES.items()
    }
    return {
        **tables,
        "export": (export.month, [u.rsplit("/", 1)[1] for u in export.uris], export.rows,
                   export.billed_cost),
        "csv": (out / f"focus-{MONTH:%Y-%m}.csv").read_bytes(),
        "parquet": pl.read_parquet(out / f"focus-{MONTH:%Y-%m}.parquet"),
        "findings": [{k: v for k, v in f.items() if k != "example_value"}
                     for f in findings_by_rule(settings)],
        "reconciliation": sorted(map(str, reconciliation(settings, limit=1000))),
    }  # fmt: skip


def test_focus_on_ducklake_equals_the_duckdb_file(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exports of over 40 rows stream in chunks (staged, then merged in one transaction).
    monkeypatch.setenv("METERHOUSE_FOCUS_CHUNK_ROWS", "40")
    source = _inputs(tmp_path / "src")
    on_lake = _run(Settings.from_env(), source, tmp_path / "out-lake")
    for name in ducklake_env:
        monkeypatch.delenv(name)
    on_file = _run(
        Settings.from_env(tmp_path / "file" / "warehouse.duckdb"), source, tmp_path / "out-file"
    )

    assert on_lake.keys() == on_file.keys()
    for name in on_lake:
        if name == "parquet":
            assert on_lake[name].equals(on_file[name])
        else:
            assert on_lake[name] == on_file[name], name
    statuses = {row[1] for row in on_lake["ledger"]}
    assert "loaded" in statuses
    assert len(on_lake["focus_line_items"]) > 100
    assert on_lake["focus_conformance"] and on_lake["findings"]
    assert len(on_lake["reconciliation"]) >= 10
    assert on_lake["export"][2] > 0 and on_lake["export"][3]
