"""`meterhouse export focus`: a month of the demo's rated usage as FOCUS 1.2, judged by the FinOps
Foundation's focus-validator 2.2.1 (its JUnit), and read back by `meterhouse ingest` exactly."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from etl.cli import main as cli
from etl.jobs.export_focus import export_focus
from etl.jobs.ingest import ingest
from etl.jobs.rollup import load_rate_card, rollup
from etl.samples.amberflo import generate_amberflo_exports
from etl.settings import Settings
from tests.integration._support import q

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "focus_validator_run", ROOT / "scripts" / "focus_validator" / "run.py"
)
assert _SPEC is not None and _SPEC.loader is not None
focus_validator = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = focus_validator  # dataclasses look their module up while building
_SPEC.loader.exec_module(focus_validator)

MONTH = date(2026, 10, 1)


@pytest.fixture(scope="module")
def rated_month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    """A warehouse holding a month of the demo's meter records, rated with the example card."""
    base = tmp_path_factory.mktemp("focus-export")
    exports = base / "exports"
    for key, data in generate_amberflo_exports(start=MONTH, days=31, customers=60, seed=7):
        path = exports / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    settings = Settings.from_env(base / "wh" / "warehouse.duckdb")
    report = ingest([str(exports)], settings)
    assert report.totals()["failed"] == 0
    load_rate_card(str(ROOT / "examples" / "rate_card.yaml"), settings=settings)
    rollup(settings=settings)
    yield settings, base


def _rated_total(settings: Settings) -> dict[str, Decimal]:
    rows = q(
        settings.warehouse_path,
        "SELECT r.currency, sum(r.rated_cost) FROM rated_events r "
        "WHERE r.rate_status = 'rated' AND r.event_date >= ? AND r.event_date < ? GROUP BY 1",
        [MONTH, date(2026, 11, 1)],
    )
    return dict(rows)


def test_export_passes_the_focus_validator(rated_month: tuple[Settings, Path]) -> None:
    settings, base = rated_month
    out = base / "out"
    result = export_focus(settings, MONTH, str(out), "both")
    assert [Path(u).name for u in result.uris] == ["focus-2026-10.csv", "focus-2026-10.parquet"]
    assert result.rows > 1000
    assert result.billed_cost == _rated_total(settings)

    for name in ("focus-2026-10.csv", "focus-2026-10.parquet"):
        verdict = focus_validator.validate(out / name, "1.2")
        assert verdict.errors == 0, verdict.failed
        assert verdict.tests > 500
        # Zero failures except the 1.2 rule model's InvoiceId OR leaf (see scripts/focus_validator).
        assert verdict.ok, verdict.failed
        assert verdict.tolerated == ["InvoiceId-C-004-C"]
        assert verdict.failures == 1

    csv_frame = pl.read_csv(out / "focus-2026-10.csv", infer_schema=False)
    parquet_frame = pl.read_parquet(out / "focus-2026-10.parquet")
    assert csv_frame.height == parquet_frame.height == result.rows
    assert parquet_frame.schema["BilledCost"] == pl.Decimal(38, 18)
    assert set(csv_frame["ProviderName"]) == {"meterhouse"}
    assert set(csv_frame["BillingAccountId"]) == {"datacenter"}


def test_export_round_trips_through_ingest_exactly(
    rated_month: tuple[Settings, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, base = rated_month
    out = base / "round-trip"
    assert cli([
        "export", "focus", "--month", "2026-10", "--out", str(out), "--format", "csv",
        "--warehouse", str(settings.warehouse_path),
    ]) == 0  # fmt: skip
    assert "FOCUS 1.2 export of 2026-10" in capsys.readouterr().out
    back = Settings.from_env(base / "back" / "warehouse.duckdb")
    report = ingest([str(out)], back)
    file = report.files[0]
    assert (file.status, file.rejected, file.duplicates) == ("loaded", 0, 0)
    assert file.findings == {}
    totals: dict[str, Any] = dict(
        q(back.warehouse_path, "SELECT currency, sum(billed_cost) FROM meter_events GROUP BY 1")
    )
    assert totals == _rated_total(settings)
    reconciled = q(
        back.warehouse_path,
        "SELECT source_billed_cost, loaded_billed_cost, rejected_rows FROM focus_reconciliation",
    )
    assert len(reconciled) == 1
    source, loaded, rejected = reconciled[0]
    assert (Decimal(source), loaded, rejected) == (totals["USD"], totals["USD"], 0)
    # Customers and meters come back as sub accounts and SKU meters.
    assert q(back.warehouse_path, "SELECT count(DISTINCT customer_id) FROM meter_events") == q(
        settings.warehouse_path,
        "SELECT count(DISTINCT customer_id) FROM meter_events m JOIN rated_events r "
        "USING (event_id) WHERE r.rate_status = 'rated'",
    )
