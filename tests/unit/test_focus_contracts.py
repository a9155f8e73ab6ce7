"""The FOCUS pandera contracts: column sets per version, and the hard-tier checks on tiny frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandera.polars as pa
import polars as pl
import pytest

from contracts.focus import (
    ALLOWED_VALUES,
    FOCUS_MODELS,
    SERVICE_CATEGORIES,
    SERVICE_SUBCATEGORIES,
    SERVICE_SUBCATEGORIES_BY_CATEGORY,
    FocusCostAndUsage10,
    FocusCostAndUsage12,
    FocusCostAndUsage13,
    column_dtypes,
    focus_columns,
    mandatory_columns,
)

UTC = dt.UTC
MANDATORY_1X = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory",
    "ServiceName",
}  # fmt: skip


@pytest.mark.parametrize(
    ("version", "columns", "mandatory"),
    [("1.0", 43, 21), ("1.1", 50, 21), ("1.2", 57, 21), ("1.3", 65, 23)],
)
def test_column_and_mandatory_counts_per_version(
    version: str, columns: int, mandatory: int
) -> None:
    assert len(focus_columns(version)) == columns
    assert len(mandatory_columns(version)) == mandatory


def test_mandatory_columns_are_the_spec_lists() -> None:
    for version in ("1.0", "1.1", "1.2"):
        assert set(mandatory_columns(version)) == MANDATORY_1X
    assert set(mandatory_columns("1.3")) == MANDATORY_1X | {
        "ServiceProviderName",
        "HostProviderName",
    }


def test_versions_only_add_columns() -> None:
    assert set(focus_columns("1.0")) < set(focus_columns("1.1")) < set(focus_columns("1.2"))
    assert set(focus_columns("1.2")) < set(focus_columns("1.3"))
    assert set(focus_columns("1.1")) - set(focus_columns("1.0")) == {
        "CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity",
        "CommitmentDiscountUnit", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
    }  # fmt: skip
    assert set(focus_columns("1.2")) - set(focus_columns("1.1")) == {
        "BillingAccountType", "InvoiceId", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "SubAccountType",
    }  # fmt: skip


def test_column_names_come_from_model_attributes() -> None:
    assert FocusCostAndUsage12.BilledCost == "BilledCost"
    assert FocusCostAndUsage13.ServiceProviderName == "ServiceProviderName"


def test_dtypes_money_decimal_periods_utc_tags_key_value() -> None:
    dtypes = column_dtypes("1.3")
    assert dtypes["BilledCost"] == pl.Decimal(38, 18)
    assert dtypes["PricingQuantity"] == pl.Decimal(38, 18)
    assert dtypes["ChargePeriodStart"] == pl.Datetime("us", "UTC")
    assert dtypes["Tags"] == pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    assert dtypes["ServiceName"] == pl.String


def test_allowed_value_lists() -> None:
    assert len(SERVICE_CATEGORIES) == 19
    assert ALLOWED_VALUES["ChargeCategory"] == ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
    assert set(SERVICE_SUBCATEGORIES_BY_CATEGORY) == set(SERVICE_CATEGORIES)
    # every subcategory has exactly one parent category
    assert len(SERVICE_SUBCATEGORIES) == len(set(SERVICE_SUBCATEGORIES))
    for category, subs in SERVICE_SUBCATEGORIES_BY_CATEGORY.items():
        assert f"Other ({category})" in subs


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "BilledCost": Decimal("1.5"), "BillingAccountId": "acct", "BillingAccountName": None,
        "BillingCurrency": "USD", "BillingPeriodStart": dt.datetime(2024, 9, 1, tzinfo=UTC),
        "BillingPeriodEnd": dt.datetime(2024, 10, 1, tzinfo=UTC), "ChargeCategory": "Usage",
        "ChargeClass": None, "ChargeDescription": None,
        "ChargePeriodStart": dt.datetime(2024, 9, 3, 10, tzinfo=UTC),
        "ChargePeriodEnd": dt.datetime(2024, 9, 3, 11, tzinfo=UTC),
        "ContractedCost": Decimal("1.5"), "EffectiveCost": Decimal("1.5"),
        "InvoiceIssuerName": "AWS", "ListCost": Decimal("1.5"), "PricingQuantity": Decimal("1"),
        "PricingUnit": "Hours", "ProviderName": "AWS", "PublisherName": "AWS",
        "ServiceCategory": "Compute", "ServiceName": "EC2",
    }  # fmt: skip
    row.update(overrides)
    return row


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    schema = {name: column_dtypes("1.3")[name] for name in rows[0]}
    return pl.DataFrame(list(rows), schema=schema)


def _failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> list[tuple[str, int]]:
    with pytest.raises(pa.errors.SchemaErrors) as info:
        model.validate(frame, lazy=True)
    cases = info.value.failure_cases
    return [(str(r["check"]), int(r["index"])) for r in cases.iter_rows(named=True)]


def test_minimal_valid_frame_passes_every_version_up_to_1_2() -> None:
    frame = _frame(_row())
    for version in ("1.0", "1.1", "1.2"):
        FOCUS_MODELS[version].validate(frame)


def test_1_3_requires_service_provider_name() -> None:
    frame = _frame(_row())
    with pytest.raises(pa.errors.SchemaErrors, match="ServiceProviderName"):
        FocusCostAndUsage13.validate(frame, lazy=True)
    FocusCostAndUsage13.validate(_frame(_row(ServiceProviderName="AWS", HostProviderName="AWS")))


def test_allowed_values_are_case_sensitive_in_the_contract() -> None:
    frame = _frame(_row(), _row(ChargeCategory="usage"))
    assert _failures(FocusCostAndUsage10, frame) == [
        ("isin(['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'])", 1)
    ]


def test_charge_class_only_correction_or_null() -> None:
    frame = _frame(_row(ChargeClass="Correction"), _row(ChargeClass="Refund"))
    assert [i for _, i in _failures(FocusCostAndUsage10, frame)] == [1]


def test_unit_prices_must_not_be_negative_but_costs_may() -> None:
    ok = _row(BilledCost=Decimal("-3"), ListUnitPrice=Decimal("0"))
    bad = _row(ListUnitPrice=Decimal("-0.01"))
    frame = _frame(ok, bad)
    assert _failures(FocusCostAndUsage10, frame) == [("greater_than_or_equal_to(0)", 1)]


def test_money_and_periods_never_null() -> None:
    frame = _frame(_row(), _row(BilledCost=None))
    assert _failures(FocusCostAndUsage10, frame) == [("not_nullable", 1)]


def test_billing_period_start_before_end() -> None:
    same = dt.datetime(2024, 9, 1, tzinfo=UTC)
    frame = _frame(_row(), _row(BillingPeriodEnd=same))
    assert _failures(FocusCostAndUsage10, frame) == [("billing_period_order", 1)]


def test_charge_period_start_before_end() -> None:
    frame = _frame(_row(ChargePeriodEnd=dt.datetime(2024, 9, 3, 9, tzinfo=UTC)))
    assert _failures(FocusCostAndUsage10, frame) == [("charge_period_order", 0)]


def test_currency_is_an_iso_code() -> None:
    frame = _frame(_row(BillingCurrency="usd"))
    assert _failures(FocusCostAndUsage10, frame) == [("str_matches('^[A-Z]{3}$')", 0)]


def test_missing_mandatory_column_is_a_schema_error() -> None:
    frame = _frame(_row()).drop("BilledCost")
    with pytest.raises(pa.errors.SchemaErrors, match="BilledCost"):
        FocusCostAndUsage10.validate(frame, lazy=True)


def test_conditional_columns_are_optional() -> None:
    schema = FocusCostAndUsage12.to_schema()
    assert schema.columns["Tags"].required is False
    assert schema.columns["SkuMeter"].required is False
    assert schema.columns["BilledCost"].required is True
