"""normalize_meter_records: reject rules, event ids, exact quantities, UTC times and units."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.amberflo import RAW_SCHEMA
from contracts.meter_event import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    REJECT_SCHEMA,
    MeterEvent,
    RejectedRow,
)
from etl.formats.amberflo.normalize import MIN_EVENT_MS, Normalized, normalize_meter_records

URI = "s3://usage/ingest/export.ndjson"
UTC = dt.UTC
WRITTEN_AT = dt.datetime(2024, 1, 2, tzinfo=UTC)
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
LIMIT_MS = T0_MS + 2 * 86_400_000  # written_at + one day of allowed skew

BASE: dict[str, Any] = {
    "customerId": "cust-1",
    "meterApiName": "gpu_hours",
    "meterValue": "1.5",
    "meterTimeInMillis": str(T0_MS),
    "uniqueId": None,
}


def raw(*rows: dict[str, Any]) -> pl.DataFrame:
    """Raw records: each row overrides BASE; source_row is its position, raw_record a marker."""
    full = []
    for i, row in enumerate(rows, start=1):
        record = {**BASE, "dimensions": [], **row}
        record.setdefault("source_row", i)
        record.setdefault("raw_record", f"raw-{i}")
        full.append(record)
    return pl.DataFrame(full, schema=RAW_SCHEMA)


def normalize(records: pl.DataFrame, **kwargs: Any) -> Normalized:
    out = normalize_meter_records(
        records,
        source_uri=URI,
        source_format=kwargs.pop("source_format", "amberflo_ndjson"),
        written_at=kwargs.pop("written_at", WRITTEN_AT),
    )
    assert out.events.columns == EVENT_COLUMNS
    assert dict(out.events.schema) == EVENT_SCHEMA
    assert dict(out.rejects.schema) == REJECT_SCHEMA
    MeterEvent.validate(out.events)
    RejectedRow.validate(out.rejects)
    assert out.events.height + out.rejects.height == records.height
    return out


def dims(**kv: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(kv.items())]


# -- the happy path, as a whole frame ---------------------------------------------------------


def test_one_record_becomes_one_canonical_event() -> None:
    records = raw(
        {
            "customerId": " cust-1 ",
            "meterValue": "1.10",
            "meterTimeInMillis": "1704067200123",
            "uniqueId": "evt-1",
            "dimensions": dims(region="eu", team="a"),
            "source_row": 7,
        }
    )

    out = normalize(records, source_format="amberflo_json")

    expected = pl.DataFrame(
        [
            {
                "event_id": "evt-1",
                "customer_id": "cust-1",
                "meter_name": "gpu_hours",
                "quantity": Decimal("1.10"),
                "unit": "Hours",
                "event_time": dt.datetime(2024, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC),
                "event_date": dt.date(2024, 1, 1),
                "dimensions": dims(region="eu", team="a"),
                "billed_cost": None,
                "effective_cost": None,
                "list_cost": None,
                "contracted_cost": None,
                "currency": None,
                "source_format": "amberflo_json",
                "source_uri": URI,
                "source_row": 7,
            }
        ],
        schema=EVENT_SCHEMA,
    )
    assert_frame_equal(out.events, expected)
    assert out.rejects.height == 0


def test_empty_input_gives_empty_typed_frames() -> None:
    out = normalize(pl.DataFrame(schema=RAW_SCHEMA))

    assert out.events.height == 0
    assert out.rejects.height == 0


# -- reject rules --------------------------------------------------------------------------------

RULES = [
    # (overrides, rule, column, reason)
    ({"customerId": None}, "amberflo.customerId.required", "customerId",
     "customerId is missing or empty"),
    ({"customerId": "   "}, "amberflo.customerId.required", "customerId",
     "customerId is missing or empty"),
    ({"meterApiName": ""}, "amberflo.meterApiName.required", "meterApiName",
     "meterApiName is missing or empty"),
    ({"meterValue": None}, "amberflo.meterValue.required", "meterValue", "meterValue is missing"),
    ({"meterValue": "NaN"}, "amberflo.meterValue.finite", "meterValue",
     "meterValue 'NaN' is not a finite number"),
    ({"meterValue": "-Infinity"}, "amberflo.meterValue.finite", "meterValue",
     "meterValue '-Infinity' is not a finite number"),
    ({"meterValue": " inf "}, "amberflo.meterValue.finite", "meterValue",
     "meterValue ' inf ' is not a finite number"),
    ({"meterValue": "12abc"}, "amberflo.meterValue.number", "meterValue",
     "meterValue '12abc' is not a number"),
    ({"meterValue": "1,5"}, "amberflo.meterValue.number", "meterValue",
     "meterValue '1,5' is not a number"),
    ({"meterValue": ""}, "amberflo.meterValue.number", "meterValue",
     "meterValue '' is not a number"),
    ({"meterValue": "-0.25"}, "amberflo.meterValue.non_negative", "meterValue",
     "meterValue '-0.25' is negative; send a correction as its own meter"),
    ({"meterTimeInMillis": None}, "amberflo.meterTimeInMillis.required", "meterTimeInMillis",
     "meterTimeInMillis is missing"),
    ({"meterTimeInMillis": "2024-01-01T00:00:00Z"}, "amberflo.meterTimeInMillis.integer",
     "meterTimeInMillis",
     "meterTimeInMillis '2024-01-01T00:00:00Z' is not an integer of epoch milliseconds"),
    ({"meterTimeInMillis": "1704067200000.0"}, "amberflo.meterTimeInMillis.integer",
     "meterTimeInMillis",
     "meterTimeInMillis '1704067200000.0' is not an integer of epoch milliseconds"),
    ({"meterTimeInMillis": "1704067200"}, "amberflo.meterTimeInMillis.seconds",
     "meterTimeInMillis",
     "meterTimeInMillis '1704067200' looks like epoch seconds; Amberflo expects milliseconds "
     "(multiply by 1000)"),
    ({"meterTimeInMillis": "5"}, "amberflo.meterTimeInMillis.too_old", "meterTimeInMillis",
     "meterTimeInMillis '5' is before 2000-01-01"),
    ({"meterTimeInMillis": "-1"}, "amberflo.meterTimeInMillis.too_old", "meterTimeInMillis",
     "meterTimeInMillis '-1' is before 2000-01-01"),
    ({"meterTimeInMillis": str(MIN_EVENT_MS - 1)}, "amberflo.meterTimeInMillis.too_old",
     "meterTimeInMillis", f"meterTimeInMillis '{MIN_EVENT_MS - 1}' is before 2000-01-01"),
    ({"meterTimeInMillis": str(LIMIT_MS + 1)}, "amberflo.meterTimeInMillis.future",
     "meterTimeInMillis",
     f"meterTimeInMillis '{LIMIT_MS + 1}' is more than a day after the file was written"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "rule", "column", "reason"), RULES, ids=[r[1] + ":" + str(r[0]) for r in RULES]
)
def test_each_rule_rejects_with_its_name_column_and_reason(
    overrides: dict[str, Any], rule: str, column: str, reason: str
) -> None:
    records = raw({}, overrides, {"customerId": "cust-3"})

    out = normalize(records)

    expected = pl.DataFrame(
        [
            {
                "source_uri": URI,
                "source_row": 2,
                "column_name": column,
                "rule": rule,
                "reason": reason,
                "raw_record": "raw-2",
            }
        ],
        schema=REJECT_SCHEMA,
    )
    assert_frame_equal(out.rejects, expected)
    # nothing else was lost
    assert out.events["source_row"].to_list() == [1, 3]
    assert out.events["customer_id"].to_list() == ["cust-1", "cust-3"]


def test_reason_quotes_at_most_sixty_characters_of_the_value() -> None:
    value = "x" * 100

    out = normalize(raw({"meterValue": value}))

    assert out.rejects["reason"].to_list() == [f"meterValue '{'x' * 60}' is not a number"]


@pytest.mark.parametrize(
    "ms",
    [MIN_EVENT_MS, LIMIT_MS, (MIN_EVENT_MS // 1000) - 1],
    ids=["2000-01-01 exactly", "written_at plus one day exactly", "just below seconds range"],
)
def test_time_boundaries(ms: int) -> None:
    out = normalize(raw({"meterTimeInMillis": str(ms)}))

    if ms < MIN_EVENT_MS:
        assert out.rejects["rule"].to_list() == ["amberflo.meterTimeInMillis.too_old"]
    else:
        assert out.rejects.height == 0
        assert out.events["event_time"].to_list() == [
            dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=ms)
        ]


def test_future_limit_follows_written_at_not_the_clock() -> None:
    far_future = dt.datetime(2100, 1, 1, tzinfo=UTC)
    ms = int(dt.datetime(2099, 6, 1, tzinfo=UTC).timestamp() * 1000)

    assert normalize(raw({"meterTimeInMillis": str(ms)}), written_at=far_future).rejects.height == 0
    assert normalize(raw({"meterTimeInMillis": str(ms)})).rejects["rule"].to_list() == [
        "amberflo.meterTimeInMillis.future"
    ]


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"customerId": "", "meterApiName": "", "meterValue": "x"}, "amberflo.customerId.required"),
        ({"meterApiName": None, "meterValue": None}, "amberflo.meterApiName.required"),
        ({"meterValue": "nan", "meterTimeInMillis": "x"}, "amberflo.meterValue.finite"),
        ({"meterValue": "-1", "meterTimeInMillis": "5"}, "amberflo.meterValue.non_negative"),
        ({"meterValue": "abc", "meterTimeInMillis": None}, "amberflo.meterValue.number"),
        ({"meterTimeInMillis": "1704067200"}, "amberflo.meterTimeInMillis.seconds"),
    ],
)
def test_the_first_failing_rule_wins(overrides: dict[str, Any], rule: str) -> None:
    out = normalize(raw(overrides))

    assert out.rejects["rule"].to_list() == [rule]
    assert out.events.height == 0


def test_rejects_keep_source_rows_of_many_bad_rows() -> None:
    out = normalize(
        raw(
            {"customerId": ""},
            {},
            {"meterValue": "-1"},
            {"meterTimeInMillis": "5"},
            {},
        )
    )

    assert out.rejects.select("source_row", "rule").rows() == [
        (1, "amberflo.customerId.required"),
        (3, "amberflo.meterValue.non_negative"),
        (4, "amberflo.meterTimeInMillis.too_old"),
    ]
    assert out.events["source_row"].to_list() == [2, 5]


# -- event ids -------------------------------------------------------------------------------------


def test_event_id_is_the_unique_id_trimmed() -> None:
    out = normalize(raw({"uniqueId": " evt-9 "}, {"uniqueId": "evt-10"}))

    assert out.events["event_id"].to_list() == ["evt-9", "evt-10"]


@pytest.mark.parametrize("unique_id", [None, "", "   "])
def test_event_id_without_unique_id_is_a_sha256_hash(unique_id: str | None) -> None:
    out = normalize(raw({"uniqueId": unique_id}))

    (event_id,) = out.events["event_id"].to_list()
    assert re.fullmatch(r"sha256:[0-9a-f]{40}", event_id)


def test_hashed_event_id_is_deterministic_across_calls() -> None:
    records = raw({"dimensions": dims(team="a", region="eu")}, {"uniqueId": "evt-2"}, {})

    first = normalize(records).events["event_id"].to_list()
    second = normalize(records.clone(), source_format="amberflo_csv").events["event_id"].to_list()

    assert first == second
    assert first[1] == "evt-2"
    assert first[0] != first[2]  # they differ in dimensions


def test_hashed_event_id_ignores_source_row_and_raw_text() -> None:
    a = normalize(raw({"source_row": 1, "raw_record": "a"})).events["event_id"][0]
    b = normalize(raw({"source_row": 99, "raw_record": "b"})).events["event_id"][0]

    assert a == b


@pytest.mark.parametrize(
    "change",
    [
        {"customerId": "cust-2"},
        {"meterApiName": "cpu_hours"},
        {"meterValue": "1.6"},
        {"meterTimeInMillis": str(T0_MS + 1)},
        {"dimensions": dims(team="a")},
        {"dimensions": dims(team="b")},
    ],
)
def test_hashed_event_id_differs_when_any_field_differs(change: dict[str, Any]) -> None:
    base = {"dimensions": dims(team="a")} if change.get("dimensions") == dims(team="b") else {}

    out = normalize(raw(base, {**base, **change}))

    ids = out.events["event_id"].to_list()
    assert len(ids) == 2
    assert ids[0] != ids[1]


def test_mixed_unique_and_hashed_ids_keep_their_rows() -> None:
    out = normalize(raw({"uniqueId": "evt-1"}, {}, {"uniqueId": "evt-3"}, {"meterValue": "2"}))

    ids = out.events["event_id"].to_list()
    assert ids[0] == "evt-1"
    assert ids[2] == "evt-3"
    assert ids[1].startswith("sha256:")
    assert ids[3].startswith("sha256:")
    assert ids[1] != ids[3]


# -- quantities ----------------------------------------------------------------------------------


def test_quantity_is_an_exact_decimal() -> None:
    out = normalize(raw({"meterValue": "0.1"}, {"meterValue": "0.2"}))

    assert out.events["quantity"].dtype == pl.Decimal(38, 18)
    assert out.events["quantity"].sum() == Decimal("0.3")
    assert out.events["quantity"].to_list() == [Decimal("0.1"), Decimal("0.2")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.10", Decimal("1.1")),
        (" 7 ", Decimal("7")),
        ("0", Decimal("0")),
        ("-0", Decimal("0")),
        ("+5", Decimal("5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal("1000")),
        ("12345678901234567890.123456789012", Decimal("12345678901234567890.123456789012")),
        ("0.000000000001", Decimal("0.000000000001")),
    ],
)
def test_quantity_parses_number_text(text: str, expected: Decimal) -> None:
    out = normalize(raw({"meterValue": text}))

    assert out.events["quantity"].to_list() == [expected]


def test_quantity_beyond_twelve_decimals_is_rejected_not_rounded() -> None:
    out = normalize(raw({"meterValue": "0.0000000000004"}))

    assert out.events.height == 0
    assert out.rejects["rule"].to_list() == ["amberflo.meterValue.precision"]
    assert "'0.0000000000004' has more than 12 decimal places" in out.rejects["reason"][0]


def test_trailing_zeros_beyond_twelve_decimals_are_exact_and_kept() -> None:
    out = normalize(raw({"meterValue": "1.50000000000000000"}))

    assert out.events["quantity"].to_list() == [Decimal("1.5")]


# -- time -----------------------------------------------------------------------------------------


def test_event_time_is_utc_and_event_date_is_the_utc_date() -> None:
    just_before_midnight = T0_MS + 86_400_000 - 1  # 2024-01-01T23:59:59.999Z

    out = normalize(
        raw({"meterTimeInMillis": str(just_before_midnight)}),
        written_at=dt.datetime(2024, 1, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
    )

    assert out.events["event_time"].dtype == pl.Datetime("us", "UTC")
    assert out.events["event_time"].to_list() == [
        dt.datetime(2024, 1, 1, 23, 59, 59, 999_000, tzinfo=UTC)
    ]
    assert out.events["event_date"].to_list() == [dt.date(2024, 1, 1)]


# -- units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meter", "unit"),
    [
        ("gpu_hours", "Hours"),
        ("memory_gb_hours", "GB-Hours"),
        ("storage_gb_months", "GB-Months"),
        ("backup_gb_days", "GB-Days"),
        ("cpu_seconds", "Seconds"),
        ("power_kwh", "kWh"),
        ("network_egress_gb", "GB"),
        ("archive_tb", "TB"),
        ("api_requests", "Requests"),
        ("seat_count", "Count"),
        ("requests", None),
        ("gpu_hours_total", None),
    ],
)
def test_unit_comes_from_the_meter_name_suffix(meter: str, unit: str | None) -> None:
    out = normalize(raw({"meterApiName": meter}))

    assert out.events["unit"].to_list() == [unit]


def test_a_unit_dimension_overrides_the_suffix() -> None:
    out = normalize(
        raw(
            {"meterApiName": "gpu_hours", "dimensions": dims(unit="GPU-Hours", team="a")},
            {"meterApiName": "widgets", "dimensions": dims(unit="Widgets")},
            {"meterApiName": "gpu_hours", "dimensions": dims(units="ignored")},
        )
    )

    assert out.events["unit"].to_list() == ["GPU-Hours", "Widgets", "Hours"]
    # the unit dimension stays a dimension
    assert out.events["dimensions"][0].to_list() == dims(team="a", unit="GPU-Hours")


def test_normalizing_many_files_at_once_equals_one_by_one() -> None:
    import datetime as dt
    import gzip

    from polars.testing import assert_frame_equal

    from etl.formats.registry import normalize_parsed, parse_source, sniff_format
    from etl.samples.amberflo import generate_amberflo_exports

    exports = generate_amberflo_exports(start=dt.date(2026, 5, 1), days=2, customers=12, seed=5)
    # One file written long ago: its events are "more than a day after the file was written".
    written = [
        dt.datetime(2026, 4, 1, tzinfo=dt.UTC) if i == 3 else dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        for i in range(len(exports))
    ]
    parsed = []
    for (key, data), when in zip(exports, written, strict=True):
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        assert sniff_format(raw, key) is not None
        parsed.append(parse_source(raw, f"s3://usage/{key}", when))

    together = normalize_parsed(parsed)
    alone = [normalize_parsed([p])[0] for p in parsed]

    assert sum(p.events.height for p in together) > 100
    assert together[3].rejects.height == together[3].rows_in > 0  # the file written long ago
    for a, b in zip(together, alone, strict=True):
        assert a.records is None and b.records is None
        assert_frame_equal(a.events, b.events)
        assert_frame_equal(a.rejects, b.rejects)
