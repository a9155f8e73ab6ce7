"""The vectorized Amberflo readers give the same events as the exact readers, or step aside."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from polars.testing import assert_frame_equal

from contracts.amberflo import A
from etl.formats import amberflo
from etl.formats.amberflo.duckdb_ndjson import duckdb_ndjson
from etl.formats.amberflo.fast import fast_csv, fast_json, has_long_number_or_blank_line
from etl.formats.amberflo.normalize import normalize_meter_records
from etl.formats.registry import sniff_format
from etl.samples.amberflo import generate_amberflo_exports

URI = "s3://usage/ingest/x"
WRITTEN = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
PARSERS = {
    "amberflo_json": amberflo.parse_amberflo_json,
    "amberflo_ndjson": amberflo.parse_amberflo_ndjson,
    "amberflo_csv": amberflo.parse_amberflo_csv,
}
HEADER = "customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId"


def _events(data: bytes, fmt: str, *, exact: bool):  # type: ignore[no-untyped-def]
    batch = PARSERS[fmt](data, URI, exact=exact)
    out = normalize_meter_records(
        batch.records, source_uri=URI, source_format=fmt, written_at=WRITTEN
    )  # type: ignore[arg-type]
    return batch, out


def test_generated_exports_read_the_same_both_ways_and_use_the_fast_path() -> None:
    exports = generate_amberflo_exports(start=dt.date(2026, 3, 1), days=2, customers=15, seed=21)
    seen = set()
    for key, data in exports:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        fmt = sniff_format(raw, key)
        assert fmt in PARSERS
        seen.add(fmt)
        fast_batch, fast = _events(raw, fmt, exact=False)
        exact_batch, exact = _events(raw, fmt, exact=True)
        # the clean generated files all take the vectorized path
        assert fast_batch.records[A.raw_record].null_count() == fast_batch.records.height, key
        assert fast_batch.rows_in == exact_batch.rows_in
        assert_frame_equal(fast.events, exact.events)
        assert fast.rejects.height == exact.rejects.height == 0
    assert seen == set(PARSERS)


def test_rejects_match_both_ways_on_a_mixed_file() -> None:
    rows = [
        {
            "customerId": "c1",
            "meterApiName": "gpu_hours",
            "meterValue": 1.5,
            "meterTimeInMillis": 1_790_000_000_000,
            "uniqueId": "a",
        },
        {
            "customerId": "c1",
            "meterApiName": "gpu_hours",
            "meterValue": "abc",
            "meterTimeInMillis": 1_790_000_000_000,
            "uniqueId": "b",
        },
        {
            "customerId": "",
            "meterApiName": "gpu_hours",
            "meterValue": 2,
            "meterTimeInMillis": 1_790_000_000_000,
        },
        {
            "customerId": "c2",
            "meterApiName": "power_kwh",
            "meterValue": -1,
            "meterTimeInMillis": 1_790_000_000,
            "dimensions": {"rack": "r1", "n": 3},
        },
    ]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    _, fast = _events(data, "amberflo_ndjson", exact=False)
    _, exact = _events(data, "amberflo_ndjson", exact=True)
    assert_frame_equal(fast.events, exact.events)
    assert (
        fast.rejects.select("source_row", "rule", "column_name").to_dicts()
        == exact.rejects.select("source_row", "rule", "column_name").to_dicts()
    )
    assert fast.rejects["raw_record"].null_count() == 0


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("amberflo_ndjson", b'{"meterValue": 12345678901234567890.5}\n'),  # beyond float precision
        ("amberflo_ndjson", b'{"meterValue": NaN}\n'),
        (
            "amberflo_ndjson",
            b'{"customerId": "a"}\n\n{"customerId": "b"}\n',
        ),  # blank line: line numbers
        ("amberflo_ndjson", b'{"dimensions": {"a": {"b": 1}}}\n'),  # nested dimension
        ("amberflo_ndjson", b'{"dimensions": {"a": 1.5}}\n'),  # float dimension text
        ("amberflo_ndjson", b'{"customerId": "a"}\n[1, 2]\n'),
        ("amberflo_ndjson", b'{"meterValue": {"v": 1}}\n'),  # object where a value belongs
        ("amberflo_json", b'[{"customerId": ["a"]}]'),
        ("amberflo_json", b'[{"customerId": "a"}, 5]'),
        ("amberflo_json", b'[{"customerId": "a"}, {"customerId": '),
        (
            "amberflo_csv",
            f'{HEADER},team\nc,m,1,2,"u,v",t\nc,m,1,2,u\n'.encode(),
        ),  # short row, quoted comma elsewhere
        ("amberflo_csv", f"{HEADER}\nc,m,1,2\n".encode()),  # short row
        ("amberflo_csv", f"{HEADER}\nc,m,1,2,u,extra\n".encode()),  # long row
        ("amberflo_csv", f"{HEADER}\nc,m,\xe9,2,u\n".encode("latin-1")),
        (
            "amberflo_csv",
            (
                "customerId,meterApiName,meterValue,meterTimeInMillis,"
                + ",".join(f"d{i}" for i in range(70))
                + "\n"
            ).encode(),
        ),
    ],
)
def test_inputs_the_fast_reader_could_misread_take_the_exact_reader(fmt: str, data: bytes) -> None:
    if fmt == "amberflo_csv":
        assert fast_csv(data, URI) is None
    else:
        assert fast_json(data, URI, lines=fmt == "amberflo_ndjson") is None
    fast = PARSERS[fmt](data, URI)
    exact = PARSERS[fmt](data, URI, exact=True)
    assert_frame_equal(fast.records, exact.records)
    assert_frame_equal(fast.rejects, exact.rejects)


def test_quoted_csv_fields_take_the_fast_path_and_read_the_same() -> None:
    data = (
        f"{HEADER},team,project\n"
        'c1,gpu_hours,1.5,1790000000000,"u,1","search, ads",""\n'
        'c2,gpu_hours,2,1790000000001,u2,"multi\nline",p\n'
        "c3,power_kwh,3,1790000000002,u3,,\n"
    ).encode()
    assert fast_csv(data, URI) is not None
    fast_batch, fast = _events(data, "amberflo_csv", exact=False)
    _, exact = _events(data, "amberflo_csv", exact=True)
    assert_frame_equal(fast.events, exact.events)
    assert fast.events["event_id"].to_list() == ["u,1", "u2", "u3"]
    assert fast.events["dimensions"].to_list()[0] == [{"key": "team", "value": "search, ads"}]


@pytest.mark.parametrize("lead", [b"\n", b"\r\n", b"  \n\n"])
def test_ndjson_leading_blank_lines_keep_their_line_numbers(lead: bytes) -> None:
    body = (
        lead
        + b'{"customerId": "c", "meterApiName": "m", "meterValue": 1, "meterTimeInMillis": 1790000000000, "uniqueId": "u"}\n'
    )

    batch = amberflo.parse_amberflo_ndjson(body, URI)

    assert batch.records["source_row"].to_list() == [lead.count(b"\n") + 1]


@pytest.mark.parametrize(
    ("value", "fast"),
    [("123456789012345", True), ("1234567890123456", False), ("0.123456789012345", False)],
)
def test_numbers_a_float_cannot_hold_take_the_exact_reader(value: str, fast: bool) -> None:
    record = '{"customerId": "c", "meterApiName": "m", "meterValue": VALUE, "meterTimeInMillis": 1790000000000, "uniqueId": "u"}\n'
    body = record.replace("VALUE", value).encode()

    assert (fast_json(body, URI, lines=True) is not None) is fast
    assert amberflo.parse_amberflo_ndjson(body, URI).records["meterValue"].to_list() == [value]


def _record(unique_id: str, value: str = "1.5", dimensions: str = '{"team": "t"}') -> str:
    return (
        f'{{"customerId": "c", "meterApiName": "m", "meterValue": {value}, '
        f'"meterTimeInMillis": 1790000000000, "uniqueId": {unique_id}, "dimensions": {dimensions}}}'
    )


@pytest.mark.parametrize(
    "record",
    [
        _record('"a1b2c3d4e5f60718293041526374859f"'),  # uuid4 hex: 20 digits in a row
        _record('"12345678901234567890"'),  # a numeric id given as text
        _record('"u-\\"-12345678901234567890"'),  # after an escaped quote, still a string
        _record('"u"', dimensions='{"order": "98765432109876543210"}'),
        _record('"u"', dimensions='{"98765432109876543210": "x"}'),
    ],
)
@pytest.mark.parametrize("lines", [True, False])
def test_digit_runs_inside_strings_stay_on_the_fast_path(record: str, lines: bool) -> None:
    # uuid4-hex ids hold 16+ digits in a row about 1% of the time: counting them would send
    # nearly every batch of 500 records to the exact reader
    body = (f"{record}\n{CLEAN}\n" if lines else f"[{record}, {CLEAN}]").encode()
    fmt = "amberflo_ndjson" if lines else "amberflo_json"

    assert fast_json(body, URI, lines=lines) is not None
    fast_batch, fast = _events(body, fmt, exact=False)
    _, exact = _events(body, fmt, exact=True)
    assert_frame_equal(fast.events, exact.events)
    assert fast.rejects.height == exact.rejects.height == 0
    assert fast.events.height == 2


@pytest.mark.parametrize(
    "record",
    [
        _record('"a1b2c3d4e5f60718293041526374859f"', value="12345678901234567"),
        _record('"u\\\\"', value="12345678901234567"),  # escaped backslash ends the string
        _record('"u\\""', value="12345678901234567"),  # `\"` then `"`: the string is closed
        _record('"12345678901234567890"', value="0.12345678901234567"),
        _record('"u"', dimensions='{"n": 12345678901234567}'),
    ],
)
@pytest.mark.parametrize("lines", [True, False])
def test_long_numbers_after_strings_still_take_the_exact_reader(record: str, lines: bool) -> None:
    body = (f"{CLEAN}\n{record}\n" if lines else f"[{CLEAN}, {record}]").encode()
    fmt = "amberflo_ndjson" if lines else "amberflo_json"

    assert fast_json(body, URI, lines=lines) is None
    fast = PARSERS[fmt](body, URI)
    exact = PARSERS[fmt](body, URI, exact=True)
    assert_frame_equal(fast.records, exact.records)
    assert_frame_equal(fast.rejects, exact.rejects)


def test_broken_quoting_on_one_line_does_not_hide_a_long_number_on_the_next() -> None:
    body = f'{{"customerId": "c\n{_record(chr(34) + "u" + chr(34), value="12345678901234567")}\n'

    assert has_long_number_or_blank_line(body.encode(), lines=True)
    batch = amberflo.parse_amberflo_ndjson(body.encode(), URI)
    assert batch.records["meterValue"].to_list() == ["12345678901234567"]
    assert batch.rejects["source_row"].to_list() == [1]


CLEAN = '{"customerId": "c", "meterApiName": "m", "meterValue": 2.50, "meterTimeInMillis": 1790000000000, "uniqueId": "u1", "dimensions": {"rack": "r1", "team": "t"}}'


def _line(**fields: object) -> str:
    record = {
        "customerId": "c",
        "meterApiName": "m",
        "meterValue": 1,
        "meterTimeInMillis": 1790000000001,
    }
    return json.dumps({**record, **fields})


@pytest.mark.parametrize(
    ("line", "duckdb_reads_it"),
    [
        (_line(uniqueId="u2", dimensions={"t": "12:30", "url": "https://x", "gone": None}), True),
        (_line(uniqueId="\u00e9\\n", extra={"x": [1]}, dimensions=None), True),
        (_line(uniqueId=12, customerId=True), True),  # integers and booleans keep their text
        (_line(uniqueId=1.50), False),  # "1.50" would come back as "1.5"
        (
            '{"customerId": "c", "meterApiName": "m", "meterValue": 1, "meterTimeInMillis": 1790000000001, "uniqueId": 1e3}',
            False,
        ),
        (_line(uniqueId="2.5"), False),  # a string that reads like a number: cannot tell
        (_line(uniqueId="u3", dimensions={"n": 3, "b": True}), False),
        (_line(uniqueId="u4", dimensions={"a": {"b": 1}}), False),
        (_line(uniqueId="u5", dimensions="rack-1"), False),
        (_line(uniqueId="u6", dimensions={"": "x"}), False),
        (_line(uniqueId="u7", dimensions={"k": "v" * 1025}), False),
        (_line(uniqueId="u8", dimensions={f"k{i}": "v" for i in range(65)}), False),
        (_line(uniqueId="u9", meterValue={"v": 1}), False),
        ('{"customerId": "c", "customerId": "d", "uniqueId": "u10"}', False),
        ('{"uniqueId": "u11", "dimensions": {"a": "1", "a": "2"}}', False),
        ('{"uniqueId": "u12", "dimensions": {"a": null, "a": "2"}}', False),
        # 65 keys, over the limit of 64, even if five of them hold null
        (
            _line(uniqueId="u13", dimensions={f"k{i}": "v" if i < 60 else None for i in range(65)}),
            False,
        ),
        (_line(uniqueId="u14", dimensions={"z": "1", "a": None, "m": "2"}), True),
        ("null", False),
        ("{}", False),  # reads as all nulls, like `null`: the exact reader tells them apart
        ("[1]", False),
        ('{"customerId": "c", "meterValue": NaN}', False),
    ],
)
def test_duckdb_reads_clean_ndjson_like_the_exact_reader_and_steps_aside_otherwise(
    line: str, duckdb_reads_it: bool
) -> None:
    body = f"{CLEAN}\n{line}\n".encode()

    assert (duckdb_ndjson(body) is not None) is duckdb_reads_it
    fast_batch, fast = _events(body, "amberflo_ndjson", exact=False)
    exact_batch, exact = _events(body, "amberflo_ndjson", exact=True)
    assert fast_batch.rows_in == exact_batch.rows_in
    assert_frame_equal(fast.events, exact.events)
    assert (
        fast.rejects.select("source_row", "rule", "column_name").to_dicts()
        == exact.rejects.select("source_row", "rule", "column_name").to_dicts()
    )


def test_generated_ndjson_is_read_by_duckdb() -> None:
    exports = generate_amberflo_exports(start=dt.date(2026, 3, 1), days=1, customers=15, seed=5)
    bodies = [
        gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for key, data in exports
        if ".ndjson" in key
    ]
    assert bodies
    for body in bodies:
        batch = duckdb_ndjson(body)
        assert batch is not None
        assert_frame_equal(batch.records, amberflo.parse_amberflo_ndjson(body, URI).records)
