"""FOCUS exports through the pipeline into the warehouse: exact totals, re-delivery, errors."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from etl.jobs.ingest import ingest
from etl.samples.focus import generate_focus_exports
from etl.settings import Settings
from tests.conftest import BUCKET

pytestmark = [pytest.mark.integration]

Key = tuple[str, str, str]  # billing account, billing period start (YYYY-MM-DD), currency
NULLS = {"", "NULL", "null"}


def _source_totals(exports: list[tuple[str, bytes]]) -> dict[Key, tuple[Decimal, Decimal]]:
    """Totals computed straight from the file bytes with csv/pyarrow and Decimal: no meterhouse code."""
    totals: dict[Key, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for _key, data in exports:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        if raw[:4] == b"PAR1":
            rows = pq.read_table(io.BytesIO(raw)).to_pylist()
        else:
            rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        for row in rows:
            r = {k.lower(): v for k, v in row.items()}
            if r["billedcost"] is None or str(r["billedcost"]).strip() in NULLS:
                continue
            period = str(r["billingperiodstart"])[:10]
            k = (str(r["billingaccountid"]), period, str(r["billingcurrency"]).upper())
            totals[k][0] += Decimal(str(r["billedcost"]))
            totals[k][1] += Decimal(str(r["effectivecost"]))
    return {k: (v[0], v[1]) for k, v in totals.items()}


def _q(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


def test_focus_totals_reconcile_to_the_last_decimal(s3: Any, settings: Settings) -> None:
    exports = generate_focus_exports(start=date(2026, 9, 1), days=60, seed=5)
    for key, data in exports:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    report = ingest([f"s3://{BUCKET}/focus/"], settings)
    assert report.totals()["failed"] == 0 and report.totals()["rejected"] == 0
    expected = _source_totals(exports)
    assert len(expected) >= 10  # several accounts x two billing periods

    from_items = _q(
        settings,
        """SELECT "BillingAccountId", strftime("BillingPeriodStart", '%Y-%m-%d'), "BillingCurrency",
                  sum("BilledCost"), sum("EffectiveCost")
           FROM focus_line_items GROUP BY ALL""",
    )
    assert {(a, p, c): (b, e) for a, p, c, b, e in from_items} == expected

    # the canonical events carry the same money, exactly
    from_events = _q(
        settings,
        """SELECT f."BillingAccountId", strftime(f."BillingPeriodStart", '%Y-%m-%d'), m.currency,
                  sum(m.billed_cost), sum(m.effective_cost)
           FROM meter_events m JOIN focus_line_items f USING (event_id) GROUP BY ALL""",
    )
    assert {(a, p, c): (b, e) for a, p, c, b, e in from_events} == expected
    versions = {r[0] for r in _q(settings, 'SELECT DISTINCT "x_focus_version" FROM focus_line_items')}
    assert versions == {"1.0", "1.1", "1.2"}
    assert {r[0] for r in _q(settings, "SELECT DISTINCT source_format FROM meter_events")} == {"focus_csv", "focus_parquet"}


def test_redelivered_billing_period_replaces_older_delivery(s3: Any, settings: Settings) -> None:
    settings = dataclasses.replace(settings, focus_delivery_window_s=0)
    first = generate_focus_exports(start=date(2026, 9, 1), days=30, seed=5)
    second = generate_focus_exports(start=date(2026, 9, 1), days=30, seed=6)  # same periods, new amounts
    aws_first = next((k, d) for k, d in first if k.startswith("focus/aws/") and k.endswith(".csv.gz"))
    aws_second = next(d for k, d in second if k == aws_first[0])
    folder = aws_first[0].rsplit("/", 1)[0]
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/delivery-1.csv.gz", Body=aws_first[1])
    ingest([f"s3://{BUCKET}/focus/"], settings)
    time.sleep(1.1)  # S3 last-modified times have whole seconds; the second delivery is newer
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/delivery-2.csv.gz", Body=aws_second)
    ingest([f"s3://{BUCKET}/focus/"], settings)

    expected = _source_totals([(aws_first[0], aws_second)])
    got = _q(
        settings,
        """SELECT "BillingAccountId", strftime("BillingPeriodStart", '%Y-%m-%d'), "BillingCurrency",
                  sum("BilledCost"), sum("EffectiveCost")
           FROM focus_line_items GROUP BY ALL""",
    )
    assert {(a, p, c): (b, e) for a, p, c, b, e in got} == expected
    assert _q(settings, "SELECT DISTINCT split_part(source_uri, '/', -1) FROM meter_events") == [("delivery-2.csv.gz",)]
    ledger = dict(
        (r[0].rsplit("/", 1)[1], r[1:])
        for r in _q(settings, "SELECT source_uri, rows_in, events_loaded, superseded FROM ingest_ledger")
    )
    rows_first = ledger["delivery-1.csv.gz"][0]
    assert ledger["delivery-1.csv.gz"] == (rows_first, 0, rows_first)
    assert ledger["delivery-2.csv.gz"][1] == ledger["delivery-2.csv.gz"][0]

    # the same delivery found again changes nothing
    assert ingest([f"s3://{BUCKET}/focus/"], settings).files == []


def test_missing_mandatory_column_fails_file_naming_column_and_version(s3: Any, settings: Settings) -> None:
    text = (
        "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,"
        "ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,"
        "InvoiceIssuerName,ListCost,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,ServiceName,"
        "SkuPriceId,SubAccountId\n"
    )
    s3.put_object(Bucket=BUCKET, Key="focus/bad/missing.csv", Body=text.encode())
    report = ingest([f"s3://{BUCKET}/focus/"], settings)
    assert [f.status for f in report.files] == ["failed"]
    error = report.files[0].error or ""
    assert "BillingAccountName" in error and "1.0" in error


def test_bad_value_row_is_rejected_with_rule(s3: Any, settings: Settings) -> None:
    with open("tests/fixtures/focus/focus_1_2.csv", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("BilledCost")] = "abc"
    odd = lines[2].split(",")
    odd[header.index("ChargeCategory")] = "Refund"
    body = "\n".join([lines[0], ",".join(bad), ",".join(odd), *lines[3:]]) + "\n"
    s3.put_object(Bucket=BUCKET, Key="focus/x/data.csv", Body=body.encode())
    report = ingest([f"s3://{BUCKET}/focus/"], settings)
    f = report.files[0]
    assert f.status == "loaded" and f.rejected == 1 and f.events_loaded == len(lines) - 2
    assert _q(settings, "SELECT source_row, column_name, rule FROM rejected_rows") == [
        (1, "BilledCost", "focus.BilledCost.decimal")
    ]
    # A descriptive column's violation is a finding: the row is loaded.
    assert _q(
        settings,
        "SELECT source_row, column_name, rule, value FROM focus_conformance "
        "WHERE rule = 'focus.ChargeCategory.allowed_values'",
    ) == [(2, "ChargeCategory", "focus.ChargeCategory.allowed_values", "Refund")]
