"""Real-export quirks load exactly: rows kept with conformance findings, money never rounded,
every file reconciled against its own text (fixtures: tests/fixtures/focus/quirks)."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import etl.formats.focus.parser as focus_parser
from etl.formats.focus import FocusParseResult
from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.integration._support import q

QUIRKS = Path(__file__).resolve().parents[1] / "fixtures" / "focus" / "quirks"


def _load(tmp_path: Path, settings: Settings, name: str) -> Any:
    folder = tmp_path / "exports"
    folder.mkdir(exist_ok=True)
    shutil.copy(QUIRKS / name, folder / name)
    report = ingest([str(folder)], settings)
    assert len(report.files) == 1
    return report.files[0]


def _text_totals(name: str, skip_rows: frozenset[int] = frozenset()) -> dict[str, Decimal]:
    """BilledCost per ProviderName summed with Decimal from the file's own text."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    with (QUIRKS / name).open(encoding="utf-8") as fh:
        for row, record in enumerate(csv.DictReader(fh), start=1):
            if row not in skip_rows:
                out[record["ProviderName"]] += Decimal(record["BilledCost"])
    return dict(out)


def _loaded_totals(settings: Settings) -> dict[str, Decimal]:
    rows = q(
        settings.warehouse_path,
        'SELECT "ProviderName", sum("BilledCost") FROM focus_line_items GROUP BY 1',
    )
    return {provider: total for provider, total in rows}


def _findings(settings: Settings) -> dict[str, int]:
    rows = q(settings.warehouse_path, "SELECT rule, count(*) FROM focus_conformance GROUP BY 1")
    return dict(rows)


def _reconciled(settings: Settings) -> list[tuple[Any, ...]]:
    return q(
        settings.warehouse_path,
        "SELECT currency, source_rows, source_billed_cost, rejected_rows, rejected_billed_cost, "
        "loaded_rows, loaded_billed_cost FROM focus_reconciliation ORDER BY currency",
    )


def test_aws_credit_with_negative_unit_prices_is_kept_with_findings(
    tmp_path: Path, settings: Settings
) -> None:
    name = "aws_credit_negative_unit_price.csv"
    report = _load(tmp_path, settings, name)
    assert (report.status, report.rows_in, report.events_loaded, report.rejected) == (
        "loaded",
        3,
        3,
        0,
    )
    assert report.findings == {
        "focus.ContractedUnitPrice.non_negative": 1,
        "focus.ListUnitPrice.non_negative": 1,
    }
    assert q(
        settings.warehouse_path,
        "SELECT source_row, column_name, value FROM focus_conformance ORDER BY column_name",
    ) == [
        (2, "ContractedUnitPrice", "-2.5"),
        (2, "ListUnitPrice", "-2.5"),
    ]
    assert _loaded_totals(settings) == _text_totals(name) == {"AWS": Decimal("6.716")}
    credit = q(
        settings.warehouse_path,
        'SELECT "BilledCost", "ContractedUnitPrice" FROM focus_line_items WHERE "ChargeCategory" = ?',
        ["Credit"],
    )
    assert credit == [(Decimal("-2.5"), Decimal("-2.5"))]


def test_oracle_null_conventions_are_kept_with_findings_and_exact_totals(
    tmp_path: Path, settings: Settings
) -> None:
    name = "oracle_null_conventions.csv"
    report = _load(tmp_path, settings, name)
    assert (report.rows_in, report.events_loaded, report.rejected) == (4, 4, 0)
    findings = _findings(settings)
    assert findings["focus.ContractedCost.not_null"] == 4
    assert findings["focus.ListCost.not_null"] == 4
    assert findings["focus.PublisherName.not_null"] == 4
    assert findings["focus.InvoiceIssuerName.not_null"] == 4
    assert findings["focus.ChargeFrequency.not_null"] == 1
    assert findings["focus.PricingUnit.unit_format"] == 4
    assert _loaded_totals(settings) == _text_totals(name) == {"Oracle": Decimal("5.60000000010042")}
    assert q(settings.warehouse_path, "SELECT count(*) FROM rejected_rows") == [(0,)]


def test_14_decimal_costs_sum_exactly(tmp_path: Path, settings: Settings) -> None:
    name = "costs_14_decimals.csv"
    report = _load(tmp_path, settings, name)
    assert (report.events_loaded, report.rejected) == (6, 0)
    exact = Decimal("1157.48882377213324")
    assert q(settings.warehouse_path, 'SELECT sum("BilledCost") FROM focus_line_items') == [
        (exact,)
    ]
    assert q(settings.warehouse_path, "SELECT sum(billed_cost) FROM meter_events") == [(exact,)]
    assert _reconciled(settings) == [("USD", 6, "1157.48882377213324", 0, "0", 6, exact)]


def test_a_value_that_cannot_be_held_exactly_is_rejected_by_its_rule(
    tmp_path: Path, settings: Settings
) -> None:
    report = _load(tmp_path, settings, "precision_25_decimals.csv")
    assert (report.status, report.events_loaded, report.rejected) == ("loaded", 1, 1)
    rule, reason = q(settings.warehouse_path, "SELECT rule, reason FROM rejected_rows")[0]
    assert rule == "focus.BilledCost.precision"
    assert "'1.0000000000000000000000001' cannot be held exactly" in reason
    assert q(settings.warehouse_path, 'SELECT "BilledCost" FROM focus_line_items') == [
        (Decimal("2.5"),)
    ]
    # The source total keeps every digit; loaded + rejected equals it exactly.
    assert _reconciled(settings) == [
        ("USD", 2, "3.5000000000000000000000001", 1, "1.0000000000000000000000001", 1,
         Decimal("2.5"))
    ]  # fmt: skip


def test_pricing_currency_other_than_billing_currency_is_a_finding(
    tmp_path: Path, settings: Settings
) -> None:
    name = "pricing_currency.csv"
    report = _load(tmp_path, settings, name)
    assert (report.events_loaded, report.rejected) == (2, 0)
    assert q(
        settings.warehouse_path,
        "SELECT source_row, column_name, rule, value FROM focus_conformance",
    ) == [(1, "PricingCurrency", "focus.PricingCurrency.differs_from_billing_currency", "EUR")]
    assert _loaded_totals(settings) == _text_totals(name) == {"AWS": Decimal("12.35432100000001")}
    # Billing money stays in the billing currency; the EUR amounts stay in their own column.
    assert q(settings.warehouse_path, "SELECT DISTINCT currency FROM meter_events") == [("USD",)]


def test_multi_provider_file_keeps_every_row_and_reconciles_per_provider(
    tmp_path: Path, settings: Settings
) -> None:
    name = "multi_provider.csv"
    report = _load(tmp_path, settings, name)
    assert (report.rows_in, report.events_loaded, report.rejected) == (7, 7, 0)
    assert (
        _loaded_totals(settings)
        == _text_totals(name)
        == {
            "AWS": Decimal("3.35800000000001"),
            "Microsoft": Decimal("5.23200000000001"),
            "Oracle": Decimal("10.08333333333333"),
        }
    )
    findings = _findings(settings)
    assert findings["focus.ContractedUnitPrice.non_negative"] == 1  # the AWS credit
    assert findings["focus.ContractedCost.not_null"] == 3  # the Oracle rows
    # Microsoft's "Unassigned" placeholder is cleaned to null, not a finding.
    assert q(
        settings.warehouse_path,
        'SELECT count(*) FROM focus_line_items WHERE "ProviderName" = ? AND "SubAccountName" IS NULL',
        ["Microsoft"],
    ) == [(2,)]
    assert q(
        settings.warehouse_path,
        "SELECT rejected FROM ingest_ledger",
    ) == [(0,)]
    assert _reconciled(settings) == [
        ("USD", 7, "18.67333333333335", 0, "0", 7, Decimal("18.67333333333335"))
    ]


def test_a_row_lost_between_parse_and_load_fails_the_file(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = focus_parser.parse_focus

    def lose_last_row(*args: Any, **kwargs: Any) -> FocusParseResult:
        result = real(*args, **kwargs)
        last = result.line_items["source_row"].max()
        keep = pl.col("source_row") != last
        return FocusParseResult(
            line_items=result.line_items.filter(keep),
            events=result.events.filter(keep),
            rejects=result.rejects,
            focus_version=result.focus_version,
            normalizations=result.normalizations,
            rows_in=result.rows_in - 1,
            warnings=result.warnings,
            findings=result.findings,
            amounts=result.amounts,
        )

    monkeypatch.setattr(focus_parser, "parse_focus", lose_last_row)
    report = _load(tmp_path, settings, "costs_14_decimals.csv")
    assert report.status == "failed"
    assert report.error is not None
    assert "FOCUS reconciliation failed" in report.error
    assert (
        "BilledCost in USD: the file's rows add up to 1157.48882377213324, "
        "557.77663122183073 was loaded and the rejected rows hold 0, "
        "a difference of 599.71219255030251"
    ) in report.error
    # Nothing of the file stayed.
    for table in ("meter_events", "focus_line_items", "focus_reconciliation"):
        assert q(settings.warehouse_path, f"SELECT count(*) FROM {table}") == [(0,)]  # noqa: S608


def test_a_warehouse_with_12_place_money_is_widened_on_open(
    tmp_path: Path, settings: Settings
) -> None:
    import duckdb

    _load(tmp_path, settings, "aws_credit_negative_unit_price.csv")
    # What a warehouse written when money had 12 places looks like.
    money = ["quantity", "billed_cost", "effective_cost", "list_cost", "contracted_cost"]
    focus_money = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice"]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        for table in ("meter_events", "duplicate_events"):
            for column in money:
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE DECIMAL(38, 12)")
        for column in focus_money:
            con.execute(
                f'ALTER TABLE focus_line_items ALTER COLUMN "{column}" TYPE DECIMAL(38, 12)'
            )
    report = _load(tmp_path, settings, "costs_14_decimals.csv")
    assert (report.status, report.events_loaded) == ("loaded", 6)
    types = dict(
        q(
            settings.warehouse_path,
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE column_name IN ('billed_cost', 'quantity', 'BilledCost', 'ListUnitPrice')",
        )
    )
    assert set(types.values()) == {"DECIMAL(38,18)"}, types
    assert q(
        settings.warehouse_path,
        "SELECT sum(billed_cost) FROM meter_events WHERE source_uri LIKE '%costs_14%'",
    ) == [(Decimal("1157.48882377213324"),)]
    # The credit loaded before keeps its value.
    assert q(
        settings.warehouse_path,
        "SELECT sum(billed_cost) FROM meter_events WHERE source_uri LIKE '%aws_credit%'",
    ) == [(Decimal("6.716"),)]


def test_14_decimal_costs_roll_up_exactly(tmp_path: Path, settings: Settings) -> None:
    from etl.jobs.rollup import rollup

    _load(tmp_path, settings, "costs_14_decimals.csv")
    report = rollup(settings=settings)
    assert report["source_cost"] == 6
    exact = Decimal("1157.48882377213324")
    assert q(settings.warehouse_path, "SELECT sum(billed_cost), sum(cost) FROM cost_daily") == [
        (exact, exact)
    ]
    assert q(settings.warehouse_path, "SELECT sum(cost) FROM cost_monthly") == [(exact,)]


def test_a_row_the_event_contract_rejects_has_no_finding_and_still_reconciles(
    tmp_path: Path, settings: Settings
) -> None:
    text = (QUIRKS / "oracle_null_conventions.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    # A 600-character sub account cannot be a customer id (at most 512): the event is rejected.
    row[header.index("SubAccountId")] = "x" * 600
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "long_customer.csv").write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n")
    report = ingest([str(folder)], settings)
    file = report.files[0]
    assert (file.status, file.events_loaded, file.rejected) == ("loaded", 3, 1)
    assert q(settings.warehouse_path, "SELECT rule FROM rejected_rows") == [
        ("contract.MeterEvent.customer_id.str_length(1, 512)",)
    ]
    assert q(
        settings.warehouse_path, "SELECT count(*) FROM focus_conformance WHERE source_row = 1"
    ) == [(0,)]
    assert _reconciled(settings) == [
        ("USD", 4, "5.60000000010042", 1, "1.25", 3, Decimal("4.35000000010042"))
    ]
