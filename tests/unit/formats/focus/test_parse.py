"""parse_focus: versions, provider quirks, rejects, totals and the canonical event mapping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.focus import FOCUS_LINE_ITEM_SCHEMA, FOCUS_MODELS
from contracts.meter_event import EVENT_COLUMNS, EVENT_SCHEMA, REJECT_SCHEMA, MeterEvent
from etl.errors import ContractViolation, FormatError
from etl.formats.focus import (
    detect_focus_version,
    focus_delivery_key,
    is_focus_header,
    parse_focus,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "focus"
URI = "s3://landing/focus/test/data/BILLING_PERIOD=2024-09/part-00001.csv"
UTC = dt.UTC

# --------------------------------------------------------------------------------------------------
# helpers: a minimal valid FOCUS 1.2 row, overridable per test
# --------------------------------------------------------------------------------------------------

BASE: dict[str, str] = {
    "BilledCost": "1.25", "BillingAccountId": "acct-1", "BillingAccountName": "Org",
    "BillingCurrency": "USD", "BillingPeriodEnd": "2024-10-01T00:00:00Z",
    "BillingPeriodStart": "2024-09-01T00:00:00Z", "ChargeCategory": "Usage", "ChargeClass": "",
    "ChargeDescription": "GPU hour", "ChargePeriodEnd": "2024-09-03T11:00:00Z",
    "ChargePeriodStart": "2024-09-03T10:00:00Z", "ContractedCost": "1.25", "EffectiveCost": "1.0",
    "InvoiceIssuerName": "DC Inc", "ListCost": "1.5", "PricingQuantity": "1", "PricingUnit": "Hours",
    "ProviderName": "DC", "PublisherName": "DC", "ServiceCategory": "Compute",
    "ServiceName": "GPU Cloud", "SubAccountId": "team-a", "SkuId": "gpu-h100", "Tags": "",
    "InvoiceId": "INV-1",
}  # fmt: skip


def csv_bytes(*rows: dict[str, str], base: dict[str, str] | None = None) -> bytes:
    """CSV with BASE's columns (plus any new ones in the rows); each row overrides BASE."""
    template = BASE if base is None else base
    full = [{**template, **row} for row in rows]
    header = list(dict.fromkeys(k for row in full for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(full)
    return buf.getvalue().encode()


def parquet_bytes(columns: dict[str, pa.Array]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def source_totals(path: Path) -> dict[str, Decimal]:
    """BilledCost / EffectiveCost totals of a CSV fixture, computed without polars."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {
        c: sum((Decimal(r[c]) for r in rows), Decimal(0)) for c in ("BilledCost", "EffectiveCost")
    }


def dims(events: pl.DataFrame, row: int = 0) -> dict[str, str | None]:
    return {d["key"]: d["value"] for d in events["dimensions"][row]}


# --------------------------------------------------------------------------------------------------
# versions x formats
# --------------------------------------------------------------------------------------------------

FIXTURE_FILES = [
    ("focus_1_0.csv", "1.0"), ("focus_1_0.parquet", "1.0"),
    ("focus_1_1.csv", "1.1"), ("focus_1_1.parquet", "1.1"),
    ("focus_1_2.csv", "1.2"), ("focus_1_2.parquet", "1.2"),
    ("focus_1_3.csv", "1.3"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "version"), FIXTURE_FILES)
def test_each_version_and_format_parses_without_rejects(name: str, version: str) -> None:
    kind = "parquet" if name.endswith(".parquet") else "csv"
    result = parse_focus((FIXTURES / name).read_bytes(), f"s3://b/{name}", kind=kind)

    assert result.focus_version == version
    assert result.rows_in == 6
    assert result.rejects.height == 0
    assert dict(result.line_items.schema) == FOCUS_LINE_ITEM_SCHEMA
    assert result.line_items["x_focus_version"].unique().to_list() == [version]
    assert result.line_items["source_row"].to_list() == [1, 2, 3, 4, 5, 6]
    assert result.events.columns == EVENT_COLUMNS
    assert dict(result.events.schema) == EVENT_SCHEMA
    assert result.events["source_format"].unique().to_list() == [f"focus_{kind}"]
    MeterEvent.validate(result.events)
    FOCUS_MODELS[version].validate(result.line_items)


@pytest.mark.parametrize(("name", "version"), FIXTURE_FILES)
def test_event_totals_equal_source_totals_exactly(name: str, version: str) -> None:
    kind = "parquet" if name.endswith(".parquet") else "csv"
    # Parquet fixtures carry the same rows as the CSV of their version.
    expected = source_totals(FIXTURES / name.replace(".parquet", ".csv"))
    result = parse_focus((FIXTURES / name).read_bytes(), "s3://b/x", kind=kind)

    assert result.events["billed_cost"].dtype == pl.Decimal(38, 18)
    assert result.events["billed_cost"].sum() == expected["BilledCost"]
    assert result.events["effective_cost"].sum() == expected["EffectiveCost"]
    assert expected["BilledCost"] == Decimal("878.298223456789")


@pytest.mark.parametrize("version", ["1_0", "1_1", "1_2"])
def test_csv_and_parquet_of_the_same_rows_give_the_same_event_ids(version: str) -> None:
    from_csv = parse_focus((FIXTURES / f"focus_{version}.csv").read_bytes(), "a.csv", kind="csv")
    from_parquet = parse_focus(
        (FIXTURES / f"focus_{version}.parquet").read_bytes(), "b/c.parquet", kind="parquet"
    )
    assert from_csv.events["event_id"].to_list() == from_parquet.events["event_id"].to_list()
    assert from_csv.events["event_id"].n_unique() == 6


def test_parquet_float_money_is_read_through_its_decimal_text() -> None:
    result = parse_focus((FIXTURES / "focus_1_2.parquet").read_bytes(), "x", kind="parquet")
    assert "BilledCost: Parquet Float64 read through its shortest decimal text (6 rows)" in (
        result.normalizations
    )
    assert result.line_items["BilledCost"][1] == Decimal("0.000123456789")


def test_parquet_map_tags_and_ms_timestamps() -> None:
    result = parse_focus((FIXTURES / "focus_1_0.parquet").read_bytes(), "x", kind="parquet")
    assert result.line_items["Tags"][0].to_list() == [
        {"key": "team", "value": "ml"}, {"key": "env", "value": "prod"},
        {"key": "cost-center", "value": "1042"}, {"key": "backup", "value": "true"},
    ]  # fmt: skip
    assert result.line_items["ChargePeriodStart"][0] == dt.datetime(2024, 9, 3, 10, tzinfo=UTC)


def test_parquet_naive_timestamps_are_utc_and_list_of_kv_tags() -> None:
    result = parse_focus((FIXTURES / "focus_1_1.parquet").read_bytes(), "x", kind="parquet")
    assert result.line_items["ChargePeriodStart"][0] == dt.datetime(2024, 9, 3, 10, tzinfo=UTC)
    assert result.line_items["Tags"][1].to_list() == [{"key": "team", "value": "ml"}]


def test_parquet_struct_tags_drop_keys_absent_on_the_row() -> None:
    rows = [{**BASE, "Tags": None}, {**BASE, "Tags": None}]
    columns = {k: pa.array([r[k] for r in rows], pa.string()) for k in BASE if k != "Tags"}
    columns["Tags"] = pa.array(
        [{"team": "a", "env": None}, {"team": None, "env": "dev"}],
        pa.struct([("team", pa.string()), ("env", pa.string())]),
    )
    result = parse_focus(parquet_bytes(columns), "x", kind="parquet")
    assert [t.to_list() for t in result.line_items["Tags"]] == [
        [{"key": "team", "value": "a"}],
        [{"key": "env", "value": "dev"}],
    ]


def test_1_3_file_keeps_deprecated_provider_columns_and_new_ones() -> None:
    result = parse_focus((FIXTURES / "focus_1_3.csv").read_bytes(), "x", kind="csv")
    assert result.line_items["ServiceProviderName"][0] == "AWS"
    assert result.line_items["ProviderName"][0] == "AWS"
    assert dims(result.events)["provider"] == "AWS"


# --------------------------------------------------------------------------------------------------
# quirks
# --------------------------------------------------------------------------------------------------


def test_utf8_bom_is_stripped() -> None:
    data = b"\xef\xbb\xbf" + csv_bytes({})
    result = parse_focus(data, URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items["BilledCost"][0] == Decimal("1.25")


def test_headers_match_case_insensitively_and_are_canonicalised() -> None:
    lower = {k.lower(): v for k, v in BASE.items()}
    lower["skupriceid"] = "p-1"  # the spec examples' mis-cased `SkuPriceid`
    result = parse_focus(csv_bytes({}, base=lower), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.focus_version == "1.2"
    assert result.line_items["SkuPriceId"][0] == "p-1"
    assert result.line_items["BilledCost"][0] == Decimal("1.25")
    assert any(
        n.startswith("headers renamed to canonical FOCUS names: ") for n in result.normalizations
    )


@pytest.mark.parametrize("token", ["", "NULL", "null", "   "])
def test_null_tokens_become_null(token: str) -> None:
    result = parse_focus(csv_bytes({"SubAccountId": token, "ChargeClass": token}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items["SubAccountId"][0] is None
    assert result.line_items["ChargeClass"][0] is None
    # SubAccountId is null, so the customer falls back to the billing account
    assert result.events["customer_id"][0] == "acct-1"
    if token in ("NULL", "null"):
        assert f"SubAccountId: null token {token!r} -> null (1 rows)" in result.normalizations
    if token == "   ":
        assert "SubAccountId: whitespace-only value -> null (1 rows)" in result.normalizations


def test_null_token_in_a_mandatory_money_column_is_a_not_null_reject() -> None:
    result = parse_focus(csv_bytes({}, {"BilledCost": "NULL"}), URI, kind="csv")
    assert result.rejects["rule"].to_list() == ["focus.BilledCost.not_null"]
    assert result.rejects["reason"][0] == "BilledCost is null; FOCUS 1.2 requires a value"


@pytest.mark.parametrize(
    "text",
    [
        "2024-09-03T10:00:00Z",
        "2024-09-03T10:00:00",  # no Z (seen in real exports)
        "2024-09-03 10:00:00",  # no T
        "2024-09-03T10:00:00.000Z",  # milliseconds
        "2024-09-03T12:00:00+02:00",  # offset
        "2024-09-03T05:00:00-0500",  # offset without colon
        "2024-09-03T10:00Z",  # no seconds
    ],
)
def test_timestamp_forms_become_the_same_utc_instant(text: str) -> None:
    result = parse_focus(csv_bytes({"ChargePeriodStart": text}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items["ChargePeriodStart"][0] == dt.datetime(2024, 9, 3, 10, tzinfo=UTC)
    assert result.line_items["ChargePeriodStart"].dtype == pl.Datetime("us", "UTC")
    assert result.events["event_date"][0] == dt.date(2024, 9, 3)


def test_timestamps_without_zone_are_recorded_as_read_as_utc() -> None:
    result = parse_focus(csv_bytes({"ChargePeriodStart": "2024-09-03 10:00:00"}), URI, kind="csv")
    assert (
        "ChargePeriodStart: no time zone designator, read as UTC (1 rows)" in result.normalizations
    )


def test_fractional_seconds_are_kept() -> None:
    result = parse_focus(
        csv_bytes({"ChargePeriodStart": "2024-09-03T10:00:00.123456Z"}), URI, kind="csv"
    )
    assert result.line_items["ChargePeriodStart"][0] == dt.datetime(
        2024, 9, 3, 10, 0, 0, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2E-7", "0.00000012"), ("35.2E-7", "0.00000352"), ("1e3", "1000"), ("-0.5", "-0.5")],
)
def test_e_notation_and_signs_parse_as_exact_decimals(text: str, expected: str) -> None:
    result = parse_focus(csv_bytes({"BilledCost": text}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items["BilledCost"][0] == Decimal(expected)


def test_money_never_goes_through_float() -> None:
    # 30 significant digits: a float64 keeps ~16.
    text = "123456789012345678.123456789012"
    result = parse_focus(csv_bytes({"BilledCost": text}), URI, kind="csv")
    assert result.line_items["BilledCost"][0] == Decimal(text)
    assert result.events["billed_cost"][0] == Decimal(text)


def test_up_to_18_decimals_are_kept_exactly() -> None:
    result = parse_focus(
        csv_bytes({"ListCost": "0.0000000000025", "BilledCost": "24.63592236934598"}),
        URI,
        kind="csv",
    )
    assert result.line_items["ListCost"][0] == Decimal("0.0000000000025")
    assert result.events["billed_cost"][0] == Decimal("24.63592236934598")
    assert not [n for n in result.normalizations if "rounded" in n]


def test_more_than_18_decimals_in_money_rejects_never_rounds() -> None:
    value = "1.0000000000000000000000001"
    result = parse_focus(csv_bytes({"BilledCost": value}, {}), URI, kind="csv")
    assert result.rejects["rule"].to_list() == ["focus.BilledCost.precision"]
    assert result.rejects["source_row"].to_list() == [1]
    assert "cannot be held exactly" in result.rejects["reason"][0]
    assert result.line_items["source_row"].to_list() == [2]


def test_more_than_18_decimals_in_a_secondary_column_is_a_finding_and_null() -> None:
    value = "0.0000000000000000000000001"
    result = parse_focus(csv_bytes({"ListUnitPrice": value}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items["ListUnitPrice"][0] is None
    assert result.findings.select("source_row", "column_name", "rule", "value").rows() == [
        (1, "ListUnitPrice", "focus.ListUnitPrice.precision", value)
    ]


@pytest.mark.parametrize(
    ("column", "raw", "fixed"),
    [
        ("ChargeCategory", "usage", "Usage"),
        ("ChargeCategory", "USAGE", "Usage"),
        ("ChargeFrequency", "Usage-based", "Usage-Based"),
        ("ServiceCategory", "compute", "Compute"),
        ("ChargeClass", "correction", "Correction"),
        ("PricingCategory", "On-Demand", "Standard"),  # pre-1.0 spelling
    ],
)
def test_allowed_value_case_is_repaired_and_recorded(column: str, raw: str, fixed: str) -> None:
    result = parse_focus(csv_bytes({}, {column: raw}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.line_items[column].to_list() == [BASE.get(column) or None, fixed]
    assert f"{column}: {raw!r} -> {fixed!r} (1 rows)" in result.normalizations


def test_tags_json_object_becomes_key_value_list_with_values_as_text() -> None:
    tags = '{"team":"ml","backup":true,"legacy":false,"cost-center":1042,"ratio":0.50,"owner":null}'
    result = parse_focus(csv_bytes({"Tags": tags}), URI, kind="csv")
    assert result.line_items["Tags"][0].to_list() == [
        {"key": "team", "value": "ml"}, {"key": "backup", "value": "true"},
        {"key": "legacy", "value": "false"}, {"key": "cost-center", "value": "1042"},
        {"key": "ratio", "value": "0.50"}, {"key": "owner", "value": None},
    ]  # fmt: skip
    assert dims(result.events)["team"] == "ml"


def test_tags_empty_object_and_null_give_no_tag_dimensions() -> None:
    result = parse_focus(csv_bytes({"Tags": "{}"}, {"Tags": ""}), URI, kind="csv")
    assert result.line_items["Tags"].to_list() == [[], None]
    for row in (0, 1):
        assert set(dims(result.events, row)) <= {
            "provider", "billing_account_id", "sub_account_id", "service_category", "service_name",
            "charge_category", "sku_id",
        }  # fmt: skip


def test_x_columns_and_unknown_columns_go_to_x_extra_as_text() -> None:
    result = parse_focus(
        csv_bytes({"x_UsageType": "EUC1-BoxUsage", "x_Discounts": '{"bundled":0.1}', "Id": "7",
                   "x_Empty": "NULL"}),
        URI, kind="csv",
    )  # fmt: skip
    assert result.line_items["x_extra"][0].to_list() == [
        {"key": "x_UsageType", "value": "EUC1-BoxUsage"},
        {"key": "x_Discounts", "value": '{"bundled":0.1}'},
        {"key": "Id", "value": "7"},
    ]


def test_microsoft_placeholders_become_null_for_microsoft_rows_only() -> None:
    data = csv_bytes(
        {"ProviderName": "Microsoft", "RegionId": "Unassigned", "ResourceId": "-2"},
        {"RegionId": "Unassigned"},
    )
    result = parse_focus(data, URI, kind="csv")
    assert result.line_items["RegionId"].to_list() == [None, "Unassigned"]
    assert result.line_items["ResourceId"].to_list() == [None, None]
    assert "RegionId: Microsoft placeholder 'Unassigned' -> null (1 rows)" in result.normalizations
    assert "ResourceId: Microsoft placeholder '-2' -> null (1 rows)" in result.normalizations


def test_lowercase_currency_is_upper_cased() -> None:
    result = parse_focus(csv_bytes({"BillingCurrency": "eur"}), URI, kind="csv")
    assert result.events["currency"][0] == "EUR"
    assert "BillingCurrency: currency code upper-cased/trimmed (1 rows)" in result.normalizations


def test_publisher_null_is_a_finding_not_a_reject() -> None:
    result = parse_focus(csv_bytes({"PublisherName": ""}), URI, kind="csv")
    assert result.rejects.height == 0
    assert result.findings.select("source_row", "rule", "value").rows() == [
        (1, "focus.PublisherName.not_null", None)
    ]
    assert result.warnings == ["focus.PublisherName.not_null: 1 rows (conformance finding; rows kept)"]


# --------------------------------------------------------------------------------------------------
# bad files, bad rows
# --------------------------------------------------------------------------------------------------


def test_missing_mandatory_column_raises_naming_column_and_version() -> None:
    header_without = {k: v for k, v in BASE.items() if k != "BilledCost"}
    with pytest.raises(ContractViolation) as info:
        parse_focus(csv_bytes({}, base=header_without), URI, kind="csv")
    message = str(info.value)
    assert "missing mandatory column(s) BilledCost" in message
    assert "FOCUS 1.2" in message
    assert URI in message
    assert "re-export" in message


def test_missing_mandatory_column_in_parquet_raises() -> None:
    columns = {
        k: pa.array([v], pa.string())
        for k, v in BASE.items()
        if k not in ("ServiceName", "InvoiceId")
    }
    with pytest.raises(
        ContractViolation, match=r"FOCUS 1\.0 export is missing mandatory column\(s\) ServiceName"
    ):
        parse_focus(parquet_bytes(columns), "x.parquet", kind="parquet")


def test_1_3_file_without_service_provider_name_names_both_new_columns() -> None:
    data = csv_bytes({"AllocatedMethodId": "m-1"})
    with pytest.raises(ContractViolation, match="FOCUS 1.3 export is missing mandatory column"):
        parse_focus(data, URI, kind="csv")


def test_pre_1_0_file_is_refused() -> None:
    old = {
        k: v
        for k, v in BASE.items()
        if k not in ("ChargeCategory", "ChargeClass", "ContractedCost")
    }
    old.pop("InvoiceId")
    old |= {"ChargeType": "Usage", "AmortizedCost": "1"}
    with pytest.raises(ContractViolation, match="FOCUS 0.5/1.0-preview"):
        parse_focus(csv_bytes({}, base=old), URI, kind="csv")


def test_duplicate_column_after_case_folding_is_refused() -> None:
    data = csv_bytes({"billedcost": "1"})
    with pytest.raises(ContractViolation, match="both map to FOCUS column BilledCost"):
        parse_focus(data, URI, kind="csv")


def test_unreadable_bytes_are_a_format_error() -> None:
    with pytest.raises(FormatError):
        parse_focus(b"PAR1 not really parquet", "x.parquet", kind="parquet")
    with pytest.raises(FormatError):
        parse_focus(b"", "x.csv", kind="csv")


BAD_VALUES = [
    ("BilledCost", "abc", "focus.BilledCost.decimal",
     "BilledCost value 'abc' is not a decimal number (FOCUS Numeric Format, e.g. 12.5 or 1.2E-7)"),
    ("EffectiveCost", "1,000.00", "focus.EffectiveCost.decimal", None),
    ("ChargePeriodStart", "5/1/25", "focus.ChargePeriodStart.timestamp",
     "ChargePeriodStart value '5/1/25' is not an ISO 8601 date/time (expected e.g. 2024-09-01T00:00:00Z)"),
    ("BillingPeriodEnd", "2024-09-01T00:00:00Z", "focus.BillingPeriodStart.before_end",
     "BillingPeriodStart 2024-09-01T00:00:00Z is not before BillingPeriodEnd 2024-09-01T00:00:00Z "
     "(end is exclusive)"),
    ("ChargePeriodEnd", "2024-09-03T09:00:00Z", "focus.ChargePeriodStart.before_end", None),
    ("BillingCurrency", "US Dollar", "focus.BillingCurrency.format", None),
    ("BillingAccountId", "", "focus.BillingAccountId.not_null", None),
    ("ProviderName", "", "focus.ProviderName.not_null", None),
]  # fmt: skip

# Violations in columns that neither place nor price a row: the row is kept, the value recorded.
FINDING_VALUES = [
    ("ChargeCategory", "Refund", "focus.ChargeCategory.allowed_values", "Refund", "Refund"),
    ("ServiceCategory", "Cloud", "focus.ServiceCategory.allowed_values", "Cloud", "Cloud"),
    ("ListUnitPrice", "-0.5", "focus.ListUnitPrice.non_negative", "-0.5",
     Decimal("-0.5")),
    ("ContractedCost", "", "focus.ContractedCost.not_null", None, None),
    ("ContractedCost", "n/a", "focus.ContractedCost.decimal", "n/a", None),
    ("Tags", "[1,2]", "focus.Tags.key_value_format", "[1,2]", None),
    ("Tags", "{team:ml}", "focus.Tags.key_value_format", "{team:ml}", None),
    ("ServiceName", "", "focus.ServiceName.not_null", None, None),
    ("SkuPriceDetails", "{not json", "focus.SkuPriceDetails.json", "{not json", "{not json"),
    ("PricingUnit", "GB-Month", "focus.PricingUnit.unit_format", "GB-Month", "GB-Month"),
    ("PricingCurrency", "EUR", "focus.PricingCurrency.differs_from_billing_currency", "EUR", "EUR"),
]  # fmt: skip


@pytest.mark.parametrize(("column", "value", "rule", "recorded", "stored"), FINDING_VALUES)
def test_secondary_violation_is_a_finding_and_the_row_is_kept(
    column: str, value: str, rule: str, recorded: str | None, stored: object
) -> None:
    result = parse_focus(csv_bytes({}, {column: value}, {"BilledCost": "2"}), URI, kind="csv")

    assert result.rejects.height == 0
    assert result.findings.rows() == [(URI, 2, column, rule, recorded)]
    assert result.line_items["source_row"].to_list() == [1, 2, 3]
    assert result.line_items[column][1] == stored or (
        isinstance(stored, Decimal) and result.line_items[column][1] == stored
    )
    assert result.events["billed_cost"].to_list() == [Decimal("1.25"), Decimal("1.25"), Decimal("2")]


@pytest.mark.parametrize(("column", "value", "rule", "reason"), BAD_VALUES)
def test_bad_value_rejects_its_row_only(
    column: str, value: str, rule: str, reason: str | None
) -> None:
    data = csv_bytes({}, {column: value}, {"BilledCost": "2"})
    result = parse_focus(data, URI, kind="csv")

    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert result.rejects.height == 1
    reject = result.rejects.row(0, named=True)
    assert reject["rule"] == rule
    assert reject["source_row"] == 2
    assert reject["source_uri"] == URI
    assert reject["column_name"] == rule.split(".")[1]
    if reason is not None:
        assert reject["reason"] == reason
    assert json.loads(reject["raw_record"])[column] == value
    # nothing else lost
    assert result.line_items["source_row"].to_list() == [1, 3]
    assert result.events["billed_cost"].to_list() == [Decimal("1.25"), Decimal("2")]
    assert result.rows_in == 3


def test_a_row_failing_several_rules_is_rejected_once() -> None:
    result = parse_focus(
        csv_bytes({"BilledCost": "x", "ChargePeriodStart": "5/1/25"}), URI, kind="csv"
    )
    assert result.rejects.height == 1
    assert result.rejects["rule"][0] == "focus.BilledCost.decimal"
    assert result.rejects["reason"][0].endswith("(also fails: focus.ChargePeriodStart.timestamp)")
    assert result.events.height == 0
    assert result.findings.height == 0


def test_parquet_reject_rows_are_one_based() -> None:
    columns = {k: pa.array([v, v], pa.string()) for k, v in BASE.items()}
    columns["BilledCost"] = pa.array(["1", "Nope"])
    result = parse_focus(parquet_bytes(columns), "x.parquet", kind="parquet")
    assert result.rejects["source_row"].to_list() == [2]


# --------------------------------------------------------------------------------------------------
# event mapping
# --------------------------------------------------------------------------------------------------


def test_customer_from_sub_account_else_billing_account_and_overridable() -> None:
    data = csv_bytes({}, {"SubAccountId": ""}, {"SubAccountName": "Team A"})
    assert parse_focus(data, URI, kind="csv").events["customer_id"].to_list() == [
        "team-a", "acct-1", "team-a",
    ]  # fmt: skip
    by_name = parse_focus(data, URI, kind="csv", customer_from="subaccountname")
    assert by_name.events["customer_id"].to_list() == ["acct-1", "acct-1", "Team A"]
    with pytest.raises(ValueError, match="customer_from"):
        parse_focus(data, URI, kind="csv", customer_from="BilledCost")


def test_meter_name_prefers_sku_meter_then_sku_id_then_service_name() -> None:
    data = csv_bytes({"SkuMeter": "gpu-hours"}, {"SkuMeter": ""}, {"SkuMeter": "", "SkuId": ""})
    result = parse_focus(data, URI, kind="csv")
    assert result.events["meter_name"].to_list() == ["gpu-hours", "gpu-h100", "GPU Cloud"]


def test_quantity_prefers_consumed_then_pricing_then_zero() -> None:
    data = csv_bytes(
        {"ConsumedQuantity": "3600", "ConsumedUnit": "Seconds"},
        {"ConsumedQuantity": "", "ConsumedUnit": ""},
        {"ChargeCategory": "Tax", "PricingQuantity": "", "PricingUnit": "", "SkuId": ""},
    )
    result = parse_focus(data, URI, kind="csv")
    assert result.events["quantity"].to_list() == [Decimal("3600"), Decimal("1"), Decimal("0")]
    assert result.events["unit"].to_list() == ["Seconds", "Hours", None]


def test_event_fields_and_dimensions() -> None:
    result = parse_focus(
        csv_bytes({"Tags": '{"team":"ml","provider":"spoofed"}', "RegionId": "fra1"}),
        URI,
        kind="csv",
    )
    event = result.events.row(0, named=True)
    assert event["event_time"] == dt.datetime(2024, 9, 3, 10, tzinfo=UTC)
    assert event["currency"] == "USD"
    assert (event["billed_cost"], event["effective_cost"], event["list_cost"], event["contracted_cost"]) == (
        Decimal("1.25"), Decimal("1.0"), Decimal("1.5"), Decimal("1.25"),
    )  # fmt: skip
    assert event["source_uri"] == URI and event["source_row"] == 1
    assert dims(result.events) == {
        "team": "ml", "provider": "DC", "billing_account_id": "acct-1", "sub_account_id": "team-a",
        "service_category": "Compute", "service_name": "GPU Cloud", "region_id": "fra1",
        "charge_category": "Usage", "sku_id": "gpu-h100",
    }  # fmt: skip
    assert any(
        n.startswith("dimensions: a tag named like a FOCUS context key")
        for n in result.normalizations
    )


def test_event_id_is_deterministic_source_independent_and_distinct_for_duplicates() -> None:
    data = csv_bytes({}, {}, {"BilledCost": "9"})
    first = parse_focus(data, "s3://b/one.csv", kind="csv").events["event_id"].to_list()
    again = parse_focus(data, "s3://b/redelivered/two.csv", kind="csv").events["event_id"].to_list()
    assert first == again
    assert len(set(first)) == 3  # identical rows 1 and 2 stay two charges
    assert all(e.startswith("focus:") and len(e) == len("focus:") + 64 for e in first)
    # the same row as the second row of another file keeps its id
    shifted = parse_focus(csv_bytes({"BilledCost": "9"}), "s3://b/x.csv", kind="csv")
    assert shifted.events["event_id"][0] == first[2]


def test_empty_file_with_header_only() -> None:
    header_only = csv_bytes({}).split(b"\n")[0] + b"\n"
    result = parse_focus(header_only, URI, kind="csv")
    assert (result.rows_in, result.line_items.height, result.events.height) == (0, 0, 0)
    assert dict(result.line_items.schema) == FOCUS_LINE_ITEM_SCHEMA


# --------------------------------------------------------------------------------------------------
# header sniffing, version detection, delivery key
# --------------------------------------------------------------------------------------------------


def test_is_focus_header() -> None:
    assert is_focus_header(list(BASE))
    assert is_focus_header(
        ["\ufeffbilledcost", "BILLINGCURRENCY", "ChargePeriodStart", "servicename", "ProviderName"]
    )
    assert not is_focus_header(["customerId", "meterApiName", "meterValue", "meterTimeInMillis"])
    assert not is_focus_header(["BilledCost", "ServiceName"])


@pytest.mark.parametrize(
    ("extra", "version"),
    [
        ([], "1.0"),
        (["SkuMeter"], "1.1"),  # introduced in 1.1 (FinOps toolkit would say 1.2)
        (["CapacityReservationId"], "1.1"),
        (["InvoiceId"], "1.2"),
        (["pricingcurrency"], "1.2"),
        (["ServiceProviderName"], "1.3"),
        (["ContractApplied"], "1.3"),
    ],
)
def test_detect_focus_version(extra: list[str], version: str) -> None:
    base = [c for c in BASE if c not in ("InvoiceId",)]
    assert detect_focus_version(base + extra) == version


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        (
            "s3://b/focus/aws/exp/data/BILLING_PERIOD=2024-09/exp-00001.csv.gz",
            "s3://b/focus/aws/exp/data",
        ),
        ("s3://b/focus/gcp/ds/billing_period=2024-09/part.parquet", "s3://b/focus/gcp/ds"),
        ("s3://b/focus/onprem/tool/2024-09/focus.csv", "s3://b/focus/onprem/tool/2024-09"),
        ("focus.csv", ""),
    ],
)
def test_focus_delivery_key(uri: str, key: str) -> None:
    assert focus_delivery_key(uri) == key


# --------------------------------------------------------------------------------------------------
# the synthetic export generator
# --------------------------------------------------------------------------------------------------


def test_generated_exports_are_deterministic_and_parse_without_rejects() -> None:
    import gzip

    from etl.samples.focus import generate_focus_exports

    exports = generate_focus_exports(start=dt.date(2024, 9, 28), days=4, seed=3, accounts=2)
    assert exports == generate_focus_exports(start=dt.date(2024, 9, 28), days=4, seed=3, accounts=2)
    assert exports != generate_focus_exports(start=dt.date(2024, 9, 28), days=4, seed=4, accounts=2)
    keys = [key for key, _ in exports]
    assert len(keys) == 10  # five providers x two billing periods
    assert (
        "focus/aws/meterhouse-focus-12/data/BILLING_PERIOD=2024-10/meterhouse-focus-12-00001.csv.gz"
        in keys
    )
    versions: dict[str, str] = {}
    for key, payload in exports:
        data = gzip.decompress(payload) if key.endswith(".gz") else payload
        result = parse_focus(data, key, kind="parquet" if ".parquet" in key else "csv")
        assert result.rejects.height == 0, result.rejects.to_dicts()
        assert result.events.height == result.rows_in > 0
        MeterEvent.validate(result.events)
        versions[key.split("/")[1] + ("-parquet" if ".parquet" in key else "")] = (
            result.focus_version
        )
        if key.startswith("focus/azure/"):
            assert data.startswith(b"\xef\xbb\xbf")
            assert any("'usage' -> 'Usage'" in n for n in result.normalizations)
            assert "RegionId: Microsoft placeholder" in " ".join(result.normalizations)
        if key.startswith("focus/onprem/"):
            assert "ChargePeriodStart: no time zone designator, read as UTC" in " ".join(
                result.normalizations
            )
            assert b"E-3" in data and b",NULL," in data
    assert versions == {
        "aws": "1.2",
        "aws-parquet": "1.0",
        "azure": "1.2",
        "gcp-parquet": "1.1",
        "onprem": "1.0",
    }


def test_a_large_files_chunks_log_each_finding_rule_once(caplog: pytest.LogCaptureFixture) -> None:
    from etl.formats.base import ParseOptions
    from etl.formats.focus import FocusParser

    chunks = FocusParser().chunk_parser("focus_csv", URI, dt.datetime.now(dt.UTC), ParseOptions())
    data = csv_bytes({"PublisherName": ""}, {"PublisherName": ""})
    with caplog.at_level("WARNING", logger="meterhouse.pipeline"):
        parsed = [chunks.parse(data, offset) for offset in (0, 2, 4)]
    assert [p.focus_findings.height for p in parsed if p.focus_findings is not None] == [2, 2, 2]
    logged = [r.getMessage() for r in caplog.records if "PublisherName.not_null" in r.getMessage()]
    assert len(logged) == 1, logged
    assert "later chunks are counted in the file's summary only" in logged[0]
