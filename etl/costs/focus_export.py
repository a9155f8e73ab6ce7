"""The data center's own rated costs as a FOCUS 1.2 Cost and Usage dataset (CSV and Parquet).

One FOCUS row per day, customer (sub account), meter (service and SKU), tag set (the event
dimensions) and price (rate card rule): the data center is the billing account, its customers the
sub accounts, `ProviderName` / `PublisherName` / `InvoiceIssuerName` the configured provider.
Money comes straight from rating, exact: ListCost is the rate card cost, ContractedCost,
EffectiveCost and BilledCost the cost after customer adjustments. ListUnitPrice is the rate card
price of flat and volume rules (ContractedUnitPrice: after the adjustment); a graduated rule has
no single price, so both stay null there, as FOCUS allows when the provider does not claim a
public unit price list.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

import polars as pl

from contracts.focus import FOCUS_DECIMAL, focus_columns
from etl.costs.days import month_of, next_month
from etl.costs.sqlfiles import sql_text

_ROWS = sql_text("focus_export_rows")
_STAMP: Final = "%Y-%m-%dT%H:%M:%SZ"

FOCUS_EXPORT_COLUMNS: Final[tuple[str, ...]] = (
    *sorted(focus_columns("1.2")),
    "x_EventCount",
    "x_RatingRule",
)
"""Every FOCUS 1.2 Cost and Usage column (alphabetical; those the data center has no value for
are null), then the `x_` extensions."""

_MONEY_COLUMNS: Final = (
    "BilledCost", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost",
    "ListUnitPrice", "ConsumedQuantity", "PricingQuantity", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
)  # fmt: skip

# ServiceCategory from the meter's name (FOCUS allowed values); anything else is "Other".
_CATEGORY_WORDS: Final = (
    ("Compute", ("gpu", "cpu", "vcpu", "compute", "instance", "vm", "node", "core")),
    ("Storage", ("storage", "disk", "volume", "bucket", "object", "backup", "block")),
    ("Networking", ("network", "egress", "ingress", "transfer", "bandwidth", "ip")),
    ("Databases", ("database", "db", "sql", "cache")),
)
_TIME_UNITS: Final = {
    "hour": "Hours", "hours": "Hours", "second": "Seconds", "seconds": "Seconds",
    "day": "Days", "days": "Days", "month": "Months", "months": "Months",
}  # fmt: skip


@dataclass(frozen=True)
class FocusAccount:
    """Who the export says bills: provider (ProviderName/PublisherName/InvoiceIssuerName) and the
    data center's billing account."""

    provider: str
    billing_account_id: str
    billing_account_name: str


def service_category(meter: str) -> str:
    """A FOCUS ServiceCategory for a meter name, from the words in it."""
    words = set(re.split(r"[^a-z0-9]+", meter.lower()))
    for category, hints in _CATEGORY_WORDS:
        if words & set(hints):
            return category
    return "Other"


def focus_unit(unit: str | None) -> str | None:
    """A unit in FOCUS UnitFormat: time units spelled out and plural, words capitalized
    (`gb_hours` -> `GB Hours` is not used: the meter's own `GB-Hours` form already conforms)."""
    if unit is None:
        return None
    if unit.lower() in _TIME_UNITS:
        return _TIME_UNITS[unit.lower()]
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9 ]*(-[A-Z][a-z]+s)?", unit):
        return unit
    words = [w for w in re.split(r"[_\s]+", unit) if w]
    return " ".join(w if w[:1].isupper() else w.capitalize() for w in words) or None


def query_rows(con: Any, month: date) -> pl.DataFrame:
    """The month's rated usage of the data center's own meters, grouped for FOCUS rows."""
    first = month_of(month)
    following = next_month(first)
    rows: pl.DataFrame = con.execute(_ROWS, [first, following]).pl()
    return rows


def _price_after(unit_price: Decimal | None, pct: Decimal | None) -> Decimal | None:
    if unit_price is None:
        return None
    if pct is None:
        return unit_price
    # Exact: rating applies (100 + pct) / 100 to the cost, and the price scales the same way.
    return unit_price * (Decimal(100) + pct) / Decimal(100)


def focus_frame(rows: pl.DataFrame, month: date, account: FocusAccount) -> pl.DataFrame:
    """Grouped rated usage (`query_rows`) -> the FOCUS 1.2 rows of the month."""
    first = month_of(month)
    following = next_month(first)
    period_start = datetime.combine(first, time()).strftime(_STAMP)
    period_end = datetime.combine(following, time()).strftime(_STAMP)
    out: list[dict[str, Any]] = []
    for r in rows.iter_rows(named=True):
        day: date = r["event_date"]
        flat = r["pricing"] in ("flat", "volume")
        list_price = r["unit_price"] if flat else None
        contracted_price = _price_after(list_price, r["adjustment_pct"])
        category = service_category(r["meter_name"])
        unit = focus_unit(r["unit"])
        out.append({
            "BilledCost": r["rated_cost"],
            "BillingAccountId": account.billing_account_id,
            "BillingAccountName": account.billing_account_name,
            "BillingAccountType": "Data Center",
            "BillingCurrency": r["currency"],
            "BillingPeriodEnd": period_end,
            "BillingPeriodStart": period_start,
            "ChargeCategory": "Usage",
            "ChargeClass": None,
            "ChargeDescription": f"{r['meter_name']} priced by rate card rule {r['rate_id']}",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": datetime.combine(day + timedelta(days=1), time()).strftime(_STAMP),
            "ChargePeriodStart": datetime.combine(day, time()).strftime(_STAMP),
            "ConsumedQuantity": r["quantity"],
            "ConsumedUnit": unit,
            "ContractedCost": r["rated_cost"],
            "ContractedUnitPrice": contracted_price,
            "EffectiveCost": r["rated_cost"],
            # The month's chargeback statement: one per billing account and month.
            "InvoiceId": f"{account.billing_account_id}-{first:%Y-%m}",
            "InvoiceIssuerName": account.provider,
            "ListCost": r["list_cost"],
            "ListUnitPrice": list_price,
            "PricingCategory": "Standard",
            # Priced in the currency it is billed in: the PricingCurrency columns repeat it.
            "PricingCurrency": r["currency"],
            "PricingCurrencyContractedUnitPrice": contracted_price,
            "PricingCurrencyEffectiveCost": r["rated_cost"],
            "PricingCurrencyListUnitPrice": list_price,
            "PricingQuantity": r["quantity"],
            "PricingUnit": unit,
            "ProviderName": account.provider,
            "PublisherName": account.provider,
            "ServiceCategory": category,
            "ServiceName": r["meter_name"],
            "ServiceSubcategory": f"Other ({category})",
            "SkuId": r["meter_name"],
            "SkuMeter": r["meter_name"],
            "SkuPriceId": r["rate_id"],
            "SkuPriceDetails": json.dumps({"x_PricingModel": r["pricing"]}),
            "SubAccountId": r["customer_id"],
            "SubAccountName": r["customer_id"],
            "SubAccountType": "Customer",
            "Tags": json.dumps(json.loads(r["tags"]), sort_keys=True, ensure_ascii=False),
            "x_EventCount": r["events"],
            "x_RatingRule": r["pricing"],
        })  # fmt: skip
    schema: dict[str, pl.DataType] = {c: pl.String() for c in FOCUS_EXPORT_COLUMNS}
    schema |= {c: FOCUS_DECIMAL for c in _MONEY_COLUMNS} | {"x_EventCount": pl.Int64()}
    return pl.DataFrame(
        [{c: row.get(c) for c in FOCUS_EXPORT_COLUMNS} for row in out], schema=schema, orient="row"
    ).select(FOCUS_EXPORT_COLUMNS)


def _plain(value: Decimal) -> str:
    """A decimal in FOCUS Numeric Format without trailing zeros (never exponent notation)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The dataset as CSV: numbers as plain decimals with a point, nulls as empty fields."""
    text = frame.with_columns(
        [pl.col(c).map_elements(_plain, return_dtype=pl.String) for c in _MONEY_COLUMNS]
    )
    buffer = io.BytesIO()
    text.write_csv(buffer, null_value="")
    return buffer.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """The dataset as Parquet: money and quantities decimal128(38, 18), never float."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
