"""normalize_meter_records on identifiers and magnitudes: Unicode forms are one id, control
characters are refused, numbers beyond what a column holds are out of range (not "not a
number"), values too small to hold are not rounded to 0."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from contracts.amberflo import RAW_SCHEMA
from etl.formats.amberflo.normalize import normalize_meter_records

URI = "s3://usage/ingest/ids.ndjson"
WRITTEN_AT = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
BASE: dict[str, Any] = {
    "customerId": "cust-1",
    "meterApiName": "gpu_hours",
    "meterValue": "1.5",
    "meterTimeInMillis": "1704067200000",
    "uniqueId": None,
    "dimensions": [],
}
COMPOSED = "caf\u00e9"
DECOMPOSED = "cafe\u0301"


def normalize(*rows: dict[str, Any]) -> Any:
    records = pl.DataFrame(
        [{**BASE, **row, "source_row": i, "raw_record": None} for i, row in enumerate(rows, 1)],
        schema=RAW_SCHEMA,
    )
    return normalize_meter_records(
        records, source_uri=URI, source_format="amberflo_ndjson", written_at=WRITTEN_AT
    )


def test_composed_and_decomposed_customer_and_meter_become_one_in_nfc() -> None:
    out = normalize(
        {"customerId": COMPOSED, "meterApiName": f"{COMPOSED}_hours"},
        {"customerId": DECOMPOSED, "meterApiName": f"{DECOMPOSED}_hours"},
    )

    assert out.events["customer_id"].to_list() == [COMPOSED, COMPOSED]
    assert out.events["meter_name"].to_list() == [f"{COMPOSED}_hours"] * 2
    # without a uniqueId the id hashes the normalized content: one event, a duplicate
    assert out.events["event_id"].n_unique() == 1


@pytest.mark.parametrize(
    ("row", "rule", "column", "reason"),
    [
        (
            {"customerId": "\x00"},
            "amberflo.customerId.control",
            "customerId",
            "customerId contains a control character (NUL, tab, newline, escape, ...); ids are "
            "printable text: fix the producer",
        ),
        (
            {"customerId": "acme\x1b[2J"},
            "amberflo.customerId.control",
            "customerId",
            "customerId contains a control character (NUL, tab, newline, escape, ...); ids are "
            "printable text: fix the producer",
        ),
        (
            {"meterApiName": "gpu\x9bhours"},
            "amberflo.meterApiName.control",
            "meterApiName",
            "meterApiName contains a control character (NUL, tab, newline, escape, ...); meter "
            "names are printable text: fix the producer",
        ),
        (
            {"meterValue": "1e400"},
            "amberflo.meterValue.range",
            "meterValue",
            "meterValue '1e400' is out of range: a quantity holds at most 20 digits before the "
            "decimal point; send it in a larger unit",
        ),
        (
            {"meterValue": "1" * 21},
            "amberflo.meterValue.range",
            "meterValue",
            f"meterValue '{'1' * 21}' is out of range: a quantity holds at most 20 digits before "
            "the decimal point; send it in a larger unit",
        ),
        (
            {"meterValue": "1e-400"},
            "amberflo.meterValue.precision",
            "meterValue",
            "meterValue '1e-400' has more than 12 decimal places; quantities are stored to 12, "
            "round it at the source",
        ),
        (
            {"meterTimeInMillis": "99999999999999999999"},
            "amberflo.meterTimeInMillis.range",
            "meterTimeInMillis",
            "meterTimeInMillis '99999999999999999999' is out of range for epoch milliseconds "
            "(a 64-bit integer)",
        ),
    ],
)
def test_rule(row: dict[str, Any], rule: str, column: str, reason: str) -> None:
    out = normalize(row, {"uniqueId": "good"})

    assert out.events["event_id"].to_list() == ["good"]
    assert out.rejects.select("source_row", "column_name", "rule", "reason").rows() == [
        (1, column, rule, reason)
    ]


@pytest.mark.parametrize("value", ["0", "0.0", "0e5", "1" * 20, "1e19", "0.000000000001"])
def test_values_the_column_holds_still_load(value: str) -> None:
    out = normalize({"meterValue": value})

    assert out.rejects.height == 0
    assert out.events.height == 1
