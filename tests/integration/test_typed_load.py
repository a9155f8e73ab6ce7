"""A large Amberflo CSV or NDJSON export typed by DuckDB from its file
(etl.formats.amberflo.typed) leaves the warehouse exactly as the chunked reader does: the same
events, duplicates, rejects (row, column, rule, reason), ledger counts and lake files.

Each generated export is loaded twice from a local folder, each file streaming (the chunk
size is far below the file): once as the ingest does it, once with the typed path turned
off (METERHOUSE_TYPED_LOAD=false). The values are drawn from the ones each rule decides (blanks around ids, decomposed
Unicode, control characters, numbers out of range or with 13 decimals, epoch seconds,
missing ids; in NDJSON also numbers, nulls, nesting, cut lines, missing fields), the
dimensions from quoted commas, quotes, newlines, empty cells, odd keys; some files are also
broken in ways DuckDB must not be trusted with (CSV: a ragged row, a blank line, a quote
inside a field, CRLF, bytes that are not UTF-8, a dimension over the limit; NDJSON: CRLF, a
BOM, bytes that are not UTF-8), which must send them to the chunked reader, or in ways each
NDJSON line is decided on by itself (a blank line, a number of more digits than a double
holds).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.integration._support import DAY_MS, MS, lake_digest, q, warehouse_digest

pytestmark = [pytest.mark.integration]

HEADER = ["customerId", "meterApiName", "meterValue", "meterTimeInMillis", "uniqueId", "region", "unit", "note"]  # fmt: skip

NAMES = ["c1", "c2", " c1 ", "", "  ", "Acme Corp", "cafe\u0301", "caf\u00e9", "c\t1", "c\x01", "7", "x" * 600]  # fmt: skip
METERS = ["gpu_hours", "storage_gb_months", "power_kwh", "api", " gpu_hours", "", "m\x7f", "y" * 300]  # fmt: skip
VALUES = [
    "0", "1", "2.5", "10.000000000001", "99999999999999999999.999999999999", "00000000000000000000001",
    "123456789012345678901", "1.1234567890123", "-1", "-0", "1e3", ".5", "1.", " 2 ", "abc", "NaN",
    "inf", "", "0.0000000000001",
]  # fmt: skip
TIMES = [
    str(MS), str(MS + DAY_MS + 17), f" {MS} ", str(MS // 1000), "946684799999", "946684800000",
    "99999999999999999999", f"{MS}.0", "", "x", str(MS + 400 * DAY_MS), "0" + str(MS),
]  # fmt: skip
IDS = ["u1", "u2", "u3", " u1 ", "", "u\x02", "z" * 600, "9.5", "\u00e9"]
DIMS = ["eu", "eu, west", 'say "hi"', "line\nbreak", "", " padded ", "\u00fcber", "GB", "\\"]

row = st.fixed_dictionaries(
    {
        "customerId": st.sampled_from(NAMES),
        "meterApiName": st.sampled_from(METERS),
        "meterValue": st.sampled_from(VALUES),
        "meterTimeInMillis": st.sampled_from(TIMES),
        "uniqueId": st.sampled_from(IDS),
        "region": st.sampled_from(DIMS),
        "unit": st.sampled_from(["", "", "", "Hours", "GPU-Hours"]),
        "note": st.sampled_from(DIMS),
    }
)
# Mostly plain rows, as real exports are: a plain row is drawn from the first values only.
plain_row = st.fixed_dictionaries(
    {
        "customerId": st.sampled_from(["c1", "c2", "Acme Corp"]),
        "meterApiName": st.sampled_from(["gpu_hours", "storage_gb_months", "api"]),
        "meterValue": st.sampled_from(VALUES[:5]),
        "meterTimeInMillis": st.sampled_from(TIMES[:2]),
        "uniqueId": st.sampled_from(["u1", "u2", "u3", "u4", "u5"]),
        "region": st.sampled_from(DIMS),
        "unit": st.sampled_from(["", "Hours"]),
        "note": st.sampled_from(DIMS),
    }
)
BREAKS = ["ragged row", "blank line", "quote inside a field", "crlf", "not utf-8", "long dimension"]


def _render(rows: list[dict[str, str]], broken: str | None) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, HEADER, lineterminator="\r\n" if broken == "crlf" else "\n")
    writer.writeheader()
    writer.writerows(rows)
    body = out.getvalue().encode()
    if broken == "ragged row":
        body += b"c1,gpu_hours,1\n"
    elif broken == "blank line":
        body = body.replace(b"\n", b"\n\n", 2)
    elif broken == "quote inside a field":
        body += f'c1,gpu_hours,1,{MS},q"1,eu,,\n'.encode()
    elif broken == "not utf-8":
        body += f"c\xff,gpu_hours,1,{MS},u9,eu,,\n".encode("latin-1")
    elif broken == "long dimension":
        body += f"c1,gpu_hours,1,{MS},u9,{'r' * 1025},,\n".encode()
    return body


def _load(folder: Path, root: Path, *, typed: bool) -> Settings:
    config = dataclasses.replace(
        Settings.from_env(root / "warehouse.duckdb"),
        chunk_bytes=600,
        chunk_rows=3,
        typed_load=typed,
    )
    ingest([str(folder)], config)
    return config


def _same_warehouse(a: Settings, b: Settings) -> None:
    # A rejected row's raw_record is its line's own text when the exact reader read its chunk
    # and the record re-rendered as JSON when a vectorized reader did (as between chunk
    # sizes): the one column allowed to differ.
    typed, chunked = warehouse_digest(a.warehouse_path), warehouse_digest(b.warehouse_path)
    assert typed.pop("rejected_rows") and chunked.pop("rejected_rows")
    assert typed == chunked
    rejects = (
        "SELECT source_uri, source_row, column_name, rule, reason FROM rejected_rows ORDER BY ALL"
    )
    assert q(a.warehouse_path, rejects) == q(b.warehouse_path, rejects)
    ledger = "SELECT source_uri, status, rows_in, events_loaded, duplicates, rejected, error FROM ingest_ledger ORDER BY ALL"
    assert q(a.warehouse_path, ledger) == q(b.warehouse_path, ledger)
    events = {k: v for k, v in lake_digest(a.lake_path).items() if k.startswith("meter_events/")}
    assert events == {
        k: v for k, v in lake_digest(b.lake_path).items() if k.startswith("meter_events/")
    }


EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _exports(rows: st.SearchStrategy[Any], breaks: list[str]) -> st.SearchStrategy[Any]:
    """1-3 files of 8-40 rows drawn from `rows`, some broken in one of the ways `breaks` names."""
    return st.lists(
        st.tuples(
            st.lists(rows, min_size=8, max_size=40),
            st.one_of(st.none(), st.none(), st.sampled_from(breaks)),
        ),
        min_size=1,
        max_size=3,
    )


def _load_typed_and_chunked(
    root: Path, files: dict[str, bytes], caplog: pytest.LogCaptureFixture | None = None
) -> tuple[Settings, set[str]]:
    """Load `files` (name -> body) both ways, check both warehouses agree, and return the
    typed load's settings and (given `caplog`) the names of the files it typed."""
    folder = root / "exports"
    folder.mkdir()
    for name, body in files.items():
        (folder / name).write_bytes(body)
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline") if caplog else nullcontext():
        typed = _load(folder, root / "typed", typed=True)
    taken = {
        r.getMessage().split()[1].rsplit("/", 1)[1]
        for r in (caplog.records if caplog else [])
        if r.getMessage().startswith("step=typed ") and "refused" not in r.getMessage()
    }
    _same_warehouse(typed, _load(folder, root / "chunked", typed=False))
    return typed, taken


@EXAMPLES
@given(files=_exports(st.one_of(plain_row, plain_row, row), BREAKS))
def test_typed_csv_loads_what_the_chunked_reader_loads(
    files: list[tuple[list[dict[str, str]], str | None]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _load_typed_and_chunked(
        tmp_path_factory.mktemp("typed"),
        {f"usage-{i}.csv": _render(rows, broken) for i, (rows, broken) in enumerate(files)},
    )


def test_a_clean_export_is_typed_and_a_broken_one_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The typed path is taken (for clean files, odd values and all) and refused (for files
    DuckDB would read differently), and both warehouses still agree, rejects included."""
    rows = [
        {"customerId": c, "meterApiName": "gpu_hours", "meterValue": v, "meterTimeInMillis": t,
         "uniqueId": u, "region": d, "unit": "", "note": ""}
        for c, v, t, u, d in zip(NAMES * 4, VALUES * 2, TIMES * 3, IDS * 4, DIMS * 4, strict=False)
    ]  # fmt: skip
    # Plain rows besides, so that the rejects stay under the threshold.
    rows += [
        {"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": "1.5", "meterTimeInMillis": str(MS + i),
         "uniqueId": f"p{i % 30}", "region": DIMS[i % len(DIMS)], "unit": "", "note": ""}
        for i in range(3 * len(rows))
    ]  # fmt: skip
    files = {"clean.csv": _render(rows, None)}
    files |= {f"broken-{i}.csv": _render(rows, broken) for i, broken in enumerate(BREAKS)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"clean.csv"}
    # The odd values were rejected with their reasons, not typed in SQL.
    rules = q(
        typed.warehouse_path,
        "SELECT DISTINCT rule FROM rejected_rows WHERE source_uri LIKE '%clean.csv'",
    )
    assert {r for (r,) in rules} >= {
        "amberflo.meterValue.precision", "amberflo.meterValue.range", "amberflo.meterValue.number",
        "amberflo.meterValue.finite", "amberflo.customerId.control",
    }  # fmt: skip
    # Every file carries the same ids: the rule keeps each id's copy of the smallest file name.
    assert q(typed.warehouse_path, "SELECT count(*) FROM meter_events")[0][0] > 30


# NDJSON: the same fields as JSON values, with what only JSON can hold. Numbers are written
# as their shortest text: a number written otherwise (1.5e3, 1790000000000.0) reads as its
# value in the vectorized readers and as its text in the exact one, whichever path the file
# takes, so which reader a chunk needs decides it (a difference of the readers, not of the
# typed path, which reads plain numbers by value as the vectorized readers do).
JSON_VALUES: list[Any] = [
    "2.5", 2.5, 1, 0, 10.000000000001, -1, "-1", None, "abc", [1], {"v": 1},
    0.1, 123456789012.125, True, "NaN", "1.5e3",
]  # fmt: skip
JSON_TIMES: list[Any] = [MS, str(MS), MS + DAY_MS, MS // 1000, f" {MS} ", None, 946684800000, "x", f"{MS}.0"]  # fmt: skip
JSON_IDS: list[Any] = ["u1", "u2", "u3", " u1 ", "", None, 7, "u\u00e9", 'u\\"q', {"id": 1}]
JSON_DIMS: list[Any] = [
    {"region": "eu"}, {"region": "eu", "unit": "GB"}, {}, None, {"b": "2", "a": "1"},
    {"region": None}, {"region": 5}, {"region": {"x": 1}}, {"r": "say \"hi\""}, {"r": "\u00fcber"},
    {"": "empty key"}, {"r": "x" * 1025}, "not an object",
]  # fmt: skip
# Lines no JSON encoder writes: a cut line, an array, a missing field, spaces, an extra key,
# a leading zero, another order of the fields, more digits than a double holds.
# (A repeated key, top-level or in `dimensions`, is left out: which of its values a record
# carries depends on the reader its chunk takes, with or without the typed path.)
ODD_LINES = [
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":1,"meterTimeInMillis":{MS},"uniqueId":"d3"}}',
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":1,"meterTimeInMillis":{MS},"uniqueId":"d4","dimensions":{{"a":"1"}},"extra":[1]}}',
    f'{{"customerId":"c1", "meterApiName" : "gpu_hours", "meterValue": 2 ,"meterTimeInMillis":{MS},"uniqueId":"d5","dimensions":{{ "a" : "1" }}}}',
    '{"customerId":"c1","meterApiName":',
    "[1, 2]",
    "{}",
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":007,"meterTimeInMillis":{MS},"uniqueId":"d6"}}',
    f'{{"uniqueId":"d7","dimensions":{{"z":"1","a":"2"}},"meterTimeInMillis":{MS},"meterValue":3,"meterApiName":"api","customerId":"c2"}}',
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":12345678901234567,"meterTimeInMillis":{MS},"uniqueId":"d8"}}',
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":"12345678901234567890.5","meterTimeInMillis":{MS},"uniqueId":"d9"}}',
    f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":0.30000000000000001,"meterTimeInMillis":{MS},"uniqueId":"d10"}}',
    f'  {{"customerId":"c1","meterApiName":"gpu_hours","meterValue":4,"meterTimeInMillis":{MS},"uniqueId":"d11"}}',
    "   ",
]  # fmt: skip

json_row = st.one_of(
    st.fixed_dictionaries(
        {
            "customerId": st.sampled_from(["c1", "c2", "Acme Corp", " c1 ", "", None, 5, "cafe\u0301", "c\t1"]),
            "meterApiName": st.sampled_from(["gpu_hours", "storage_gb_months", "api", None]),
            "meterValue": st.sampled_from(JSON_VALUES),
            "meterTimeInMillis": st.sampled_from(JSON_TIMES),
            "uniqueId": st.sampled_from(JSON_IDS),
            "dimensions": st.sampled_from(JSON_DIMS),
        }
    ).map(json.dumps),
    st.sampled_from(ODD_LINES),
)  # fmt: skip
plain_json_row = st.fixed_dictionaries(
    {
        "customerId": st.sampled_from(["c1", "c2", "Acme Corp"]),
        "meterApiName": st.sampled_from(["gpu_hours", "storage_gb_months", "api"]),
        "meterValue": st.sampled_from(["2.5", 2.5, 1, 0, 10.000000000001, 1500]),
        "meterTimeInMillis": st.sampled_from([MS, str(MS), MS + DAY_MS]),
        "uniqueId": st.sampled_from(["u1", "u2", "u3", "u4", "u5"]),
        "dimensions": st.sampled_from(JSON_DIMS[:5]),
    }
).map(json.dumps)
JSON_BREAKS = ["blank line", "crlf", "bom", "long number", "not utf-8"]


def _render_ndjson(lines: list[str], broken: str | None) -> bytes:
    body = "\n".join(lines) + "\n"
    if broken == "blank line":
        body = body.replace("\n", "\n\n", 1)
    elif broken == "crlf":
        body = body.replace("\n", "\r\n")
    elif broken == "long number":
        body += f'{{"customerId":"c1","meterApiName":"gpu_hours","meterValue":1.00000000000000001,"meterTimeInMillis":{MS},"uniqueId":"n1","dimensions":{{}}}}\n'
    data = body.encode()
    if broken == "bom":
        data = b"\xef\xbb\xbf" + data
    elif broken == "not utf-8":
        data += (
            b'{"customerId":"c\xff","meterApiName":"gpu_hours","meterValue":1,"meterTimeInMillis":'
        )
        data += str(MS).encode() + b',"uniqueId":"n2","dimensions":{}}\n'
    return data


@EXAMPLES
@given(files=_exports(st.one_of(plain_json_row, plain_json_row, json_row), JSON_BREAKS))
def test_typed_ndjson_loads_what_the_chunked_reader_loads(
    files: list[tuple[list[str], str | None]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _load_typed_and_chunked(
        tmp_path_factory.mktemp("typed-ndjson"),
        {f"usage-{i}.ndjson": _render_ndjson(lines, b) for i, (lines, b) in enumerate(files)},
    )


def test_an_ndjson_export_is_typed_line_by_line_and_a_broken_one_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Blank lines and numbers a double cannot hold are decided line by line on the typed
    path; CRLF, a BOM and bytes that are not UTF-8 send the file to the chunked reader; and
    both warehouses agree, rejects included."""
    odd = [*ODD_LINES, *(json.dumps(v) for v in JSON_DIMS)]
    lines = [
        json.dumps(
            {
                "customerId": c,
                "meterApiName": "gpu_hours",
                "meterValue": v,
                "meterTimeInMillis": t,
                "uniqueId": u,
                "dimensions": d,
            }
        )
        for c, v, t, u, d in zip(
            ["c1", " c1 ", None, "c2"] * 4,
            JSON_VALUES,
            JSON_TIMES * 2,
            JSON_IDS * 2,
            JSON_DIMS * 2,
            strict=False,
        )
    ] + odd
    # Plain lines besides (compact and spaced, dimensions in any key order), so that the
    # rejects stay under the threshold.
    lines += [
        json.dumps({"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": 1.5, "meterTimeInMillis": MS + i,
                    "uniqueId": f"p{i % 30}", "dimensions": JSON_DIMS[i % 5]}, separators=(",", ":") if i % 2 else None)
        for i in range(3 * len(lines))
    ]  # fmt: skip
    files = {"clean.ndjson": _render_ndjson(lines, None)}
    files |= {f"{b.replace(' ', '-')}.ndjson": _render_ndjson(lines, b) for b in JSON_BREAKS}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"clean.ndjson", "blank-line.ndjson", "long-number.ndjson"}
    rules = q(
        typed.warehouse_path,
        "SELECT DISTINCT rule FROM rejected_rows WHERE source_uri LIKE '%long-number.ndjson'",
    )
    assert {r for (r,) in rules} >= {"amberflo.meterValue.precision", "amberflo.json.syntax"}
    assert q(typed.warehouse_path, "SELECT count(*) FROM meter_events")[0][0] > 30


def test_dimension_keys_a_struct_cannot_hold_are_sorted_entry_by_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file whose plain lines use more dimension keys than one struct is built of (64), or
    keys that are not plain names or are alike but for case, puts each line's keys in order
    one by one: the same MAPs, in the same key order, as the chunked reader stores."""

    def line(i: int, dimensions: dict[str, str], prefix: str = "k") -> str:
        return json.dumps({"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": i,
                           "meterTimeInMillis": MS + i, "uniqueId": f"{prefix}{i}", "dimensions": dimensions})  # fmt: skip

    many = [line(i, {f"key{i % 70:02d}": "v", "zone": "eu", f"a{i % 3}": "w"}) for i in range(140)]
    odd_keys = [{"Team": "x", "team": "y"}, {"a b": "1", "b": "2"}, {"\u00fcber": "3", "a": "4"}]
    odd = [line(i, odd_keys[i % 3], "o") for i in range(60)]
    files = {"many.ndjson": _render_ndjson(many, None), "odd.ndjson": _render_ndjson(odd, None)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == set(files)
    stored = q(
        typed.warehouse_path,
        "SELECT dimensions FROM meter_events WHERE event_id IN ('o0', 'o1', 'o2') ORDER BY event_id",
    )
    assert [list(d) for (d,) in stored] == [["Team", "team"], ["a b", "b"], ["a", "\u00fcber"]]
