"""The exact (record-by-record) Amberflo readers: raw text records, dimensions, unreadable rows.

The vectorized readers are checked against these in test_amberflo_fast.py.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.amberflo import RAW_SCHEMA, AmberfloRecord
from contracts.meter_event import REJECT_SCHEMA, RejectedRow
from etl.formats import amberflo
from etl.formats.amberflo import MAX_DIMENSIONS, RawBatch


def parse_amberflo_json(data: bytes, uri: str) -> RawBatch:
    return amberflo.parse_amberflo_json(data, uri, exact=True)


def parse_amberflo_ndjson(data: bytes, uri: str) -> RawBatch:
    return amberflo.parse_amberflo_ndjson(data, uri, exact=True)


def parse_amberflo_csv(data: bytes, uri: str) -> RawBatch:
    return amberflo.parse_amberflo_csv(data, uri, exact=True)


URI = "s3://usage/ingest/2024/01/01/export"
HEADER = "customerId,meterApiName,meterValue,meterTimeInMillis"
REC = {
    "customerId": "cust-1",
    "meterApiName": "gpu_hours",
    "meterValue": "1.10",
    "meterTimeInMillis": "1704067200000",
}


def raw_row(
    source_row: int,
    raw_record: str,
    *,
    dimensions: list[dict[str, str]] | None = None,
    **fields: str | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in RAW_SCHEMA}
    row.update({**REC, **fields})
    row.update(dimensions=dimensions or [], source_row=source_row, raw_record=raw_record)
    return row


def raw_frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=RAW_SCHEMA)


def reject_frame(*rows: tuple[int, str | None, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "source_uri": URI,
                "source_row": row,
                "column_name": column,
                "rule": rule,
                "reason": reason,
                "raw_record": raw,
            }
            for row, column, rule, reason, raw in rows
        ],
        schema=REJECT_SCHEMA,
    )


def check_contracts(batch: RawBatch) -> None:
    AmberfloRecord.validate(batch.records)
    RejectedRow.validate(batch.rejects)
    assert batch.rows_in == batch.records.height + batch.rejects.height


def one_json(record: dict[str, Any]) -> RawBatch:
    batch = parse_amberflo_json(json.dumps([record]).encode(), URI)
    check_contracts(batch)
    return batch


def dims_of(batch: RawBatch, row: int = 0) -> list[tuple[str, str]]:
    return [(d["key"], d["value"]) for d in batch.records[AmberfloRecord.dimensions][row]]


# -- JSON array -----------------------------------------------------------------------------------


def test_json_array_reads_every_record_as_text() -> None:
    data = (
        b'[{"customerId":"cust-1","meterApiName":"gpu_hours","meterValue":1.10,'
        b'"meterTimeInMillis":1704067200000,"uniqueId":"u-1"},\n'
        b' {"customerId":"cust-2","meterApiName":"gpu_hours","meterValue":"2",'
        b'"meterTimeInMillis":"1704067200001"}]'
    )
    batch = parse_amberflo_json(data, URI)

    first = data[1 : data.index(b"},") + 1].decode()
    second = data[data.index(b' {"customerId":"cust-2"') + 1 : -1].decode()
    expected = raw_frame(
        raw_row(1, first, uniqueId="u-1"),
        raw_row(2, second, customerId="cust-2", meterValue="2", meterTimeInMillis="1704067200001"),
    )
    assert_frame_equal(batch.records, expected)
    assert batch.rejects.height == 0
    assert batch.rows_in == 2
    check_contracts(batch)


@pytest.mark.parametrize("text", ["1.10", "0.000000000001", "1e3", "-0", "12345678901234567890.5"])
def test_json_meter_value_text_is_kept_exactly(text: str) -> None:
    data = ('[{"meterValue":' + text + "}]").encode()

    batch = parse_amberflo_json(data, URI)

    assert batch.records[AmberfloRecord.meterValue].to_list() == [text]


def test_json_single_object_is_an_array_of_one() -> None:
    batch = parse_amberflo_json(b'  {"customerId":"c","meterValue":"1"}  ', URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["c"]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1]
    assert batch.records[AmberfloRecord.raw_record].to_list() == [
        '{"customerId":"c","meterValue":"1"}'
    ]
    assert batch.rows_in == 1
    check_contracts(batch)


def test_json_empty_array_has_no_rows() -> None:
    batch = parse_amberflo_json(b"[ \n ]", URI)

    assert batch.records.height == 0
    assert batch.rejects.height == 0
    assert batch.rows_in == 0
    assert dict(batch.records.schema) == RAW_SCHEMA


def test_unknown_top_level_keys_are_dropped() -> None:
    record = {**REC, "tenant": "t", "meterValueV2": "9", "nested": {"a": 1}}

    batch = one_json(record)

    assert_frame_equal(batch.records, raw_frame(raw_row(1, json.dumps(record))))
    assert batch.rejects.height == 0


def test_dimensions_are_sorted_by_key() -> None:
    batch = one_json({**REC, "dimensions": {"zone": "z1", "account": "a1", "Mixed": "m"}})

    assert dims_of(batch) == [("Mixed", "m"), ("account", "a1"), ("zone", "z1")]


def test_non_string_scalar_dimension_values_are_stringified() -> None:
    batch = one_json(
        {**REC, "dimensions": {"count": 3, "ratio": 0.50, "on": True, "off": False, "gone": None}}
    )

    # null values are dropped; numbers keep their JSON text
    assert dims_of(batch) == [("count", "3"), ("off", "false"), ("on", "true"), ("ratio", "0.5")]


def test_absent_or_null_dimensions_are_an_empty_list() -> None:
    batch = parse_amberflo_json(
        json.dumps([REC, {**REC, "dimensions": None}, {**REC, "dimensions": {}}]).encode(), URI
    )

    assert batch.records[AmberfloRecord.dimensions].to_list() == [[], [], []]


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "an object"), ([1, 2], "an array")])
def test_nested_dimension_value_is_rejected(value: Any, kind: str) -> None:
    good = {**REC, "dimensions": {"team": "a"}}
    bad = {**REC, "dimensions": {"team": "b", "spec": value}}
    data = json.dumps([good, bad, good]).encode()

    batch = parse_amberflo_json(data, URI)

    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 3]
    assert_frame_equal(
        batch.rejects,
        reject_frame(
            (
                2,
                "dimensions",
                "amberflo.dimensions.scalar",
                f"dimension 'spec' holds {kind}, expected a string",
                json.dumps(bad),
            )
        ),
    )
    assert batch.rows_in == 3
    check_contracts(batch)


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "an object"), ([1, 2], "an array")])
def test_a_key_nested_in_one_record_and_text_in_another_is_rejected_where_nested(
    value: Any, kind: str
) -> None:
    """The vectorized reader would read such a key as text, the nested value as JSON."""
    rec = {**REC, "meterValue": 1, "meterTimeInMillis": 1704067200000, "uniqueId": "u"}
    lines = [{**rec, "dimensions": {"spec": "x"}}, {**rec, "dimensions": {"spec": value}}]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()

    batch = amberflo.parse_amberflo_ndjson(data, URI)

    assert batch.records[AmberfloRecord.source_row].to_list() == [1]
    assert batch.rejects.select("source_row", "rule", "reason").rows() == [
        (2, "amberflo.dimensions.scalar", f"dimension 'spec' holds {kind}, expected a string")
    ]


def test_dimensions_that_are_not_an_object_are_rejected() -> None:
    batch = one_json({**REC, "dimensions": ["team", "a"]})

    assert batch.records.height == 0
    assert batch.rejects.select("column_name", "rule", "reason").row(0) == (
        "dimensions",
        "amberflo.dimensions.map",
        "dimensions must be a JSON object of string values",
    )


def test_at_most_max_dimensions_keys_are_accepted() -> None:
    batch = one_json({**REC, "dimensions": {f"k{i:03d}": "v" for i in range(MAX_DIMENSIONS)}})

    assert batch.rejects.height == 0
    assert len(dims_of(batch)) == MAX_DIMENSIONS


def test_more_than_max_dimensions_keys_are_rejected() -> None:
    batch = one_json({**REC, "dimensions": {f"k{i}": "v" for i in range(MAX_DIMENSIONS + 1)}})

    assert batch.records.height == 0
    assert batch.rejects.select("source_row", "column_name", "rule", "reason").row(0) == (
        1,
        "dimensions",
        "amberflo.dimensions.size",
        f"dimensions has {MAX_DIMENSIONS + 1} keys, more than the limit of {MAX_DIMENSIONS}",
    )


@pytest.mark.parametrize("dims", [{"": "v"}, {"k" * 129: "v"}, {"k": "v" * 1025}])
def test_dimension_key_or_value_over_length_is_rejected(dims: dict[str, str]) -> None:
    batch = one_json({**REC, "dimensions": dims})

    assert batch.records.height == 0
    assert batch.rejects["rule"].to_list() == ["amberflo.dimensions.length"]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [("customerId", {"id": "c"}, "an object"), ("meterValue", [1], "an array")],
)
def test_nested_top_level_field_is_rejected(field: str, value: Any, kind: str) -> None:
    batch = one_json({**REC, field: value})

    assert batch.rejects.select("column_name", "rule", "reason").row(0) == (
        field,
        f"amberflo.{field}.scalar",
        f"{field} is {kind}, expected a single value",
    )


def test_array_element_that_is_not_an_object_is_rejected() -> None:
    batch = parse_amberflo_json(json.dumps([REC, "oops", 7]).encode(), URI)

    assert batch.records[AmberfloRecord.source_row].to_list() == [1]
    assert batch.rejects.select("source_row", "rule", "raw_record").rows() == [
        (2, "amberflo.record.object", '"oops"'),
        (3, "amberflo.record.object", "7"),
    ]
    assert batch.rows_in == 3


def test_array_cut_mid_record_keeps_the_records_before_the_cut() -> None:
    whole = json.dumps([REC, {**REC, "customerId": "cust-2"}, {**REC, "customerId": "cust-3"}])
    cut_at = whole.index('"cust-3"') + 4
    data = whole[:cut_at].encode()

    batch = parse_amberflo_json(data, URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-2"]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 2]
    assert batch.rejects.height == 1
    reject = batch.rejects.row(0, named=True)
    assert reject["source_row"] == 3
    assert reject["rule"] == "amberflo.json.syntax"
    assert reject["reason"].startswith("record 3 is not valid JSON (")
    assert reject["reason"].endswith(
        "); the rest of the array cannot be read: fix or re-upload the file"
    )
    assert reject["raw_record"] == whole[whole.index('{"customerId": "cust-3"') : cut_at]
    assert batch.rows_in == 3
    check_contracts(batch)


def test_array_without_closing_bracket_keeps_every_record() -> None:
    data = json.dumps([REC, {**REC, "customerId": "cust-2"}]).encode()[:-1] + b"\n"

    batch = parse_amberflo_json(data, URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-2"]
    assert_frame_equal(
        batch.rejects,
        reject_frame(
            (
                3,
                None,
                "amberflo.json.truncated",
                "JSON array ends without ']' after 2 records: the file is cut off; re-upload it",
                "",
            )
        ),
    )
    # the missing bracket is counted as a row so the reject shows up in the totals
    assert batch.rows_in == 3


def test_json_record_with_latin1_bytes_is_rejected_and_the_others_load() -> None:
    data = b'[{"customerId":"caf\xe9","meterValue":"1"}, {"customerId":"ok","meterValue":"2"}]'

    batch = parse_amberflo_json(data, URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["ok"]
    assert batch.rejects.select("source_row", "rule", "reason", "raw_record").rows() == [
        (
            1,
            "amberflo.encoding",
            "record is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
            '{"customerId":"caf\ufffd","meterValue":"1"}',
        )
    ]


def test_json_with_bom_is_read() -> None:
    batch = parse_amberflo_json(b"\xef\xbb\xbf" + json.dumps([REC]).encode(), URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1"]
    assert batch.rejects.height == 0


# -- NDJSON ---------------------------------------------------------------------------------------


def test_ndjson_bad_line_is_rejected_with_its_line_number_and_others_load() -> None:
    lines = [
        json.dumps(REC),
        "",
        '{"customerId": "cust-2", "meterValue": ',
        json.dumps({**REC, "customerId": "cust-3"}),
        "[1, 2]",
        "   ",
        json.dumps({**REC, "customerId": "cust-4"}) + "\r",
    ]
    data = "\n".join(lines).encode()

    batch = parse_amberflo_ndjson(data, URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-3", "cust-4"]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 4, 7]
    assert batch.records[AmberfloRecord.raw_record][2] == lines[6].strip()
    assert_frame_equal(
        batch.rejects,
        reject_frame(
            (
                3,
                None,
                "amberflo.json.syntax",
                "line is not valid JSON: Expecting value at column 39",
                lines[2].strip(),
            ),
            (5, None, "amberflo.record.object", "record is not a JSON object", "[1, 2]"),
        ),
    )
    assert batch.rows_in == 5
    check_contracts(batch)


def test_ndjson_meter_value_text_is_kept_exactly() -> None:
    data = b'{"meterValue": 1.10}\n{"meterValue": "1.10"}\n{"meterValue": 100}\n'

    batch = parse_amberflo_ndjson(data, URI)

    assert batch.records[AmberfloRecord.meterValue].to_list() == ["1.10", "1.10", "100"]


def test_ndjson_latin1_line_is_rejected_and_other_lines_load() -> None:
    data = json.dumps(REC).encode() + b'\n{"customerId":"caf\xe9"}\n' + json.dumps(REC).encode()

    batch = parse_amberflo_ndjson(data, URI)

    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 3]
    assert batch.rejects.select("source_row", "rule", "reason").rows() == [
        (2, "amberflo.encoding", "line is not valid UTF-8; re-export as UTF-8")
    ]
    assert batch.rows_in == 3
    check_contracts(batch)


def test_ndjson_with_bom_reads_the_first_line() -> None:
    batch = parse_amberflo_ndjson(b"\xef\xbb\xbf" + json.dumps(REC).encode(), URI)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1"]
    assert batch.rejects.height == 0


# -- CSV ------------------------------------------------------------------------------------------


def csv_batch(text: str | bytes) -> RawBatch:
    data = text.encode() if isinstance(text, str) else text
    batch = parse_amberflo_csv(data, URI)
    check_contracts(batch)
    return batch


def test_csv_extra_columns_are_dimensions_and_empty_cells_are_not() -> None:
    batch = csv_batch(
        f"{HEADER},zone,team,uniqueId\n"
        "cust-1,gpu_hours,1.10,1704067200000,z1,,u-1\n"
        "cust-2,gpu_hours,2,1704067200000,,t2,\n"
    )

    expected = raw_frame(
        raw_row(
            1,
            json.dumps({**REC, "zone": "z1", "team": "", "uniqueId": "u-1"}),
            dimensions=[{"key": "zone", "value": "z1"}],
            uniqueId="u-1",
        ),
        raw_row(
            2,
            json.dumps(
                {
                    **REC,
                    "customerId": "cust-2",
                    "meterValue": "2",
                    "zone": "",
                    "team": "t2",
                    "uniqueId": "",
                }
            ),
            dimensions=[{"key": "team", "value": "t2"}],
            customerId="cust-2",
            meterValue="2",
        ),
    )
    assert_frame_equal(batch.records, expected)
    assert batch.rows_in == 2


def test_csv_dimensions_are_sorted_by_key() -> None:
    batch = csv_batch(f"zone,{HEADER},account\nz,cust-1,m,1,1704067200000,a\n")

    assert dims_of(batch) == [("account", "a"), ("zone", "z")]


def test_csv_crlf_line_endings() -> None:
    batch = csv_batch(
        f"{HEADER},team\r\ncust-1,m,1.10,1704067200000,t\r\ncust-2,m,2,1704067200000,u\r\n"
    )

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-2"]
    assert batch.records[AmberfloRecord.meterTimeInMillis].to_list() == ["1704067200000"] * 2
    assert [dims_of(batch, i) for i in range(2)] == [[("team", "t")], [("team", "u")]]
    assert batch.rejects.height == 0


def test_csv_quoted_newline_stays_inside_its_cell() -> None:
    batch = csv_batch(
        f'{HEADER},note\ncust-1,m,1,1704067200000,"two\nlines"\ncust-2,m,2,1704067200000,x\n'
    )

    assert dims_of(batch, 0) == [("note", "two\nlines")]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 2]
    assert batch.rejects.height == 0


def test_csv_with_bom_reads_the_first_header() -> None:
    batch = csv_batch(b"\xef\xbb\xbf" + f"{HEADER}\ncust-1,m,1,1704067200000\n".encode())

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1"]
    assert dims_of(batch) == []


def test_csv_meter_value_text_is_kept_exactly_and_cells_are_trimmed() -> None:
    batch = csv_batch(f"{HEADER}\n cust-1 ,m, 1.10 ,1704067200000\ncust-1,m,,1704067200000\n")

    assert batch.records[AmberfloRecord.meterValue].to_list() == ["1.10", None]
    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-1"]


def test_csv_ragged_row_is_rejected_and_others_load() -> None:
    batch = csv_batch(
        f"{HEADER},team\n"
        "cust-1,m,1,1704067200000,t\n"
        "cust-2,m,2\n"
        "cust-3,m,3,1704067200000,t,extra\n"
        "cust-4,m,4,1704067200000,t\n"
    )

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-4"]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 4]
    assert_frame_equal(
        batch.rejects,
        reject_frame(
            (
                2,
                None,
                "amberflo.csv.ragged",
                "row has 3 fields but the header has 5; check quoting and delimiters",
                json.dumps({"customerId": "cust-2", "meterApiName": "m", "meterValue": "2"}),
            ),
            (
                3,
                None,
                "amberflo.csv.ragged",
                "row has 6 fields but the header has 5; check quoting and delimiters",
                json.dumps(
                    {
                        "customerId": "cust-3",
                        "meterApiName": "m",
                        "meterValue": "3",
                        "meterTimeInMillis": "1704067200000",
                        "team": "t",
                    }
                ),
            ),
        ),
    )
    assert batch.rows_in == 4


def test_csv_latin1_row_is_rejected_while_other_rows_load() -> None:
    data = (
        f"{HEADER},city\n".encode()
        + b"cust-1,m,1,1704067200000,Paris\n"
        + b"cust-2,m,2,1704067200000,Montr\xe9al\n"
        + b"cust-3,m,3,1704067200000,Lyon\n"
    )

    batch = csv_batch(data)

    assert batch.records[AmberfloRecord.customerId].to_list() == ["cust-1", "cust-3"]
    assert batch.records[AmberfloRecord.source_row].to_list() == [1, 3]
    assert_frame_equal(
        batch.rejects,
        reject_frame(
            (
                2,
                None,
                "amberflo.encoding",
                "row is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
                "cust-2,m,2,1704067200000,Montr?al",
            )
        ),
    )
    assert batch.rows_in == 3


@pytest.mark.parametrize(
    "data", [HEADER, HEADER + "\n", HEADER + "\r\n\r\n", "\ufeff" + HEADER + "\n"]
)
def test_csv_header_only_has_no_rows(data: str) -> None:
    batch = csv_batch(data)

    assert batch.records.height == 0
    assert batch.rejects.height == 0
    assert batch.rows_in == 0
    assert dict(batch.records.schema) == RAW_SCHEMA


def test_csv_empty_file_has_no_rows() -> None:
    batch = csv_batch(b"")

    assert (batch.records.height, batch.rejects.height, batch.rows_in) == (0, 0, 0)


def test_csv_rows_in_counts_every_record_but_not_blank_lines() -> None:
    batch = csv_batch(f"{HEADER}\ncust-1,m,1,1704067200000\n\ncust-2,m\n\n")

    assert batch.rows_in == 2
    assert batch.records.height == 1
    assert batch.rejects.height == 1


def test_csv_more_than_max_dimension_columns_are_rejected() -> None:
    extra = [f"d{i}" for i in range(MAX_DIMENSIONS + 1)]
    header = ",".join([HEADER, *extra])
    row = ",".join(["cust-1,m,1,1704067200000", *["v"] * len(extra)])

    batch = csv_batch(f"{header}\n{row}\n")

    assert batch.records.height == 0
    assert batch.rejects["rule"].to_list() == ["amberflo.dimensions.size"]
