"""Hostile cells, lines and values: each is loaded or rejected with a rule, never an exception
that stops the file (or the run); duplicate and unnamed CSV columns are never resolved silently."""

from __future__ import annotations

import json
from typing import Any

import pytest

from etl.errors import FormatError
from etl.formats.amberflo import (
    MAX_DIMENSION_VALUE,
    RawBatch,
    parse_amberflo_csv,
    parse_amberflo_json,
    parse_amberflo_ndjson,
)

URI = "s3://usage/ingest/hostile"
HEADER = "customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId"
DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP = (
    "record nests JSON objects or arrays deeper than the reader allows; a meter record is flat "
    "(dimensions: one level of string values): fix the producer"
)
LONG = (
    f"dimension key must be 1..128 characters and its value at most {MAX_DIMENSION_VALUE} "
    "(key 'team', value of 140000 characters)"
)


def rec(uid: str, **fields: Any) -> dict[str, Any]:
    return {
        "customerId": "c1",
        "meterApiName": "gpu_hours",
        "meterValue": "1",
        "meterTimeInMillis": "1704067200000",
        "uniqueId": uid,
        **fields,
    }


def rejects(batch: RawBatch) -> list[tuple[Any, ...]]:
    return batch.rejects.select("source_row", "column_name", "rule", "reason").rows()


def ids(batch: RawBatch) -> list[str]:
    return batch.records["uniqueId"].to_list()


@pytest.mark.parametrize("exact", [False, True])
def test_csv_cell_over_128_kib_is_read_and_a_long_dimension_rejected(exact: bool) -> None:
    data = f"{HEADER},team\nc1,m,1,1704067200000,big,{'x' * 140_000}\nc1,m,1,1704067200000,ok,t\n"

    batch = parse_amberflo_csv(data.encode(), URI, exact=exact)

    assert ids(batch) == ["ok"]
    assert rejects(batch) == [(1, "dimensions", "amberflo.dimensions.length", LONG)]
    assert batch.rows_in == 2


@pytest.mark.parametrize("exact", [False, True])
def test_csv_id_over_128_kib_is_read_as_it_is(exact: bool) -> None:
    data = f"{HEADER}\n{'c' * 140_000},m,1,1704067200000,big\n"

    batch = parse_amberflo_csv(data.encode(), URI, exact=exact)

    # read whole; the MeterEvent contract then rejects an id over 512 characters
    assert batch.records["customerId"].str.len_chars().to_list() == [140_000]


@pytest.mark.parametrize("exact", [False, True])
def test_ndjson_line_nested_too_deep_is_rejected_and_the_others_load(exact: bool) -> None:
    bad = json.dumps(rec("deep"))[:-1] + ', "dimensions": ' + DEEP + "}"
    data = "\n".join([json.dumps(rec("a")), bad, json.dumps(rec("b"))]).encode()

    batch = parse_amberflo_ndjson(data, URI, exact=exact)

    assert ids(batch) == ["a", "b"]
    assert rejects(batch) == [(2, None, "amberflo.json.depth", TOO_DEEP)]


@pytest.mark.parametrize("exact", [False, True])
def test_json_array_element_nested_too_deep_keeps_the_records_before_it(exact: bool) -> None:
    data = ("[" + json.dumps(rec("a")) + "," + DEEP + "]").encode()

    batch = parse_amberflo_json(data, URI, exact=exact)

    assert ids(batch) == ["a"]
    assert rejects(batch) == [
        (
            2,
            None,
            "amberflo.json.depth",
            f"record 2: {TOO_DEEP}; the rest of the array cannot be read",
        )
    ]


def test_json_single_object_nested_too_deep_is_rejected() -> None:
    batch = parse_amberflo_json(('{"a": ' + DEEP + "}").encode(), URI)

    assert rejects(batch) == [(1, None, "amberflo.json.depth", TOO_DEEP)]


def test_ndjson_line_of_5_mib_is_read_and_judged_by_the_rules() -> None:
    huge = json.dumps(rec("huge", dimensions={"team": "x" * (5 * 1024 * 1024)}))
    data = "\n".join([json.dumps(rec("a")), huge]).encode()

    batch = parse_amberflo_ndjson(data, URI)

    assert ids(batch) == ["a"]
    assert [r[:3] for r in rejects(batch)] == [(2, "dimensions", "amberflo.dimensions.length")]


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("parse", [parse_amberflo_ndjson, parse_amberflo_json])
def test_lone_surrogate_escape_is_rejected_as_encoding(exact: bool, parse: Any) -> None:
    bad = '{"customerId": "\\ud800", "meterApiName": "m", "meterValue": 1, "meterTimeInMillis": 1704067200000, "uniqueId": "s"}'
    good = json.dumps(rec("a"))
    data = (f"[{good},{bad}]" if parse is parse_amberflo_json else f"{good}\n{bad}").encode()

    batch = parse(data, URI, exact=exact)

    assert ids(batch) == ["a"]
    assert rejects(batch) == [
        (
            2,
            None,
            "amberflo.encoding",
            "record holds a \\uD800-\\uDFFF escape that is not a valid character "
            "(a lone UTF-16 surrogate); fix the producer's JSON encoder",
        )
    ]


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize(
    ("header", "named"),
    [
        (f"{HEADER},meterValue", "'meterValue'"),
        (f"{HEADER},team,region,team", "'team'"),
        (f"{HEADER},team,team,region,region", "'region', 'team'"),
    ],
)
def test_csv_header_with_a_column_twice_fails_the_file_naming_it(
    exact: bool, header: str, named: str
) -> None:
    width = header.count(",") - HEADER.count(",")
    data = f"{header}\nc1,m,1,1704067200000,u1{',v' * width}\n".encode()

    with pytest.raises(FormatError) as err:
        parse_amberflo_csv(data, URI, exact=exact)

    assert str(err.value) == (
        f"{URI}: the CSV header names column(s) {named} more than once; which value a record "
        "means cannot be told: rename or drop the extra column(s) and upload the file again"
    )


@pytest.mark.parametrize("exact", [False, True])
def test_csv_value_under_an_empty_header_is_rejected_not_dropped(exact: bool) -> None:
    data = (
        f"{HEADER},,team\nc1,m,1,1704067200000,stray,lost,t\nc1,m,1,1704067200000,fine,,t\n"
    ).encode()

    batch = parse_amberflo_csv(data, URI, exact=exact)

    assert ids(batch) == ["fine"]
    assert rejects(batch) == [
        (
            1,
            None,
            "amberflo.csv.unnamed_column",
            "row has a value under column 6, whose header is empty; name the column in the "
            "header (it becomes a dimension) or remove the value",
        )
    ]


def test_csv_trailing_empty_header_over_empty_cells_still_loads() -> None:
    data = f"{HEADER},\nc1,m,1,1704067200000,u1,\n".encode()

    batch = parse_amberflo_csv(data, URI)

    assert ids(batch) == ["u1"]
    assert rejects(batch) == []
