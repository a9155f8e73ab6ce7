"""Bad input, end to end: local S3 over HTTP -> etl.jobs.ingest.ingest -> a DuckDB file.

Every bad file and every bad record of this module lands in the bucket together with good
ones and is loaded in ONE run, so each case also proves that it blocks nothing else. Each case
asserts the exact outcome: ledger status and error, the exact rejected rows (rule, source_row,
column, reason), the reason object in the bucket, and that every row is accounted for.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import BatchReport, FileReport, ingest
from etl.settings import Settings
from tests.conftest import BUCKET
from tests.integration._support import (
    MS,
    bucket_keys,
    ndjson,
    put,
    q,
    read_key,
    rec,
)

pytestmark = [pytest.mark.integration]

MAX_OBJECT_BYTES = 1_000_000
CSV_HEADER = "customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId"
FAR_FUTURE_MS = 1_893_456_000_000  # 2030-01-01
BEFORE_2000_MS = 915_148_800_000  # 1999-01-01


@dataclass(frozen=True)
class FileCase:
    key: str
    body: bytes
    status: str
    source_format: str | None
    counts: tuple[int, int, int, int]  # rows_in, loaded, duplicates, rejected
    error: str | None = None  # exact ledger error; {uri} is the object's URI
    error_prefix: bool = False  # the error only starts with `error` (library text follows)
    rejects: tuple[tuple[int | None, str | None, str, str], ...] = ()  # row, column, rule, reason
    events: tuple[str, ...] = ()  # event_ids stored from this file


def _csv(*rows: str, header: str = CSV_HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode() + newline.encode()


def _row(uid: str, value: str = "1", extra: str = "") -> str:
    return f"c1,gpu_hours,{value},{MS},{uid}{extra}"


_CUT_MID_JSON = json.dumps([rec("cm-1"), rec("cm-2")])
_CUT_AFTER_JSON = json.dumps([rec("ca-1"), rec("ca-2")])

FILE_CASES = [
    FileCase("ingest/files/zero-byte.json", b"", "empty", None, (0, 0, 0, 0)),
    FileCase("ingest/files/blank.ndjson", b" \n\r\n\t\n", "empty", None, (0, 0, 0, 0)),
    FileCase("ingest/files/empty-array.json", b"[ ]", "empty", "amberflo_json", (0, 0, 0, 0)),
    FileCase("ingest/files/empty.json.gz", gzip.compress(b""), "empty", None, (0, 0, 0, 0)),
    FileCase(
        "ingest/files/header-only.csv", _csv(), "empty", "amberflo_csv", (0, 0, 0, 0)
    ),
    FileCase(
        "ingest/files/truncated.json.gz",
        gzip.compress(ndjson(rec("gz-1"), rec("gz-2")))[:-7],
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: gzip data is truncated or corrupt (Compressed file ended before the "
        "end-of-stream marker was reached); re-upload the complete file",
    ),
    FileCase(
        # 20 MB of whitespace inside a JSON array gzips to ~20 KB: a decompression bomb.
        "ingest/files/bomb.json.gz",
        gzip.compress(b"[" + b" " * 20_000_000 + b"]", compresslevel=9),
        "failed",
        None,
        (0, 0, 0, 0),
        f"{{uri}}: gzip expands beyond {MAX_OBJECT_BYTES} bytes (METERHOUSE_MAX_OBJECT_BYTES); "
        "refusing it as a possible decompression bomb; split the export or raise the limit",
    ),
    FileCase(
        "ingest/files/oversized.ndjson",
        ndjson(*[rec(f"ov-{i}") for i in range(12_000)]),
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: object is "
        + str(len(ndjson(*[rec(f"ov-{i}") for i in range(12_000)])))
        + f" bytes, over the limit of {MAX_OBJECT_BYTES} (METERHOUSE_MAX_OBJECT_BYTES); "
        "split the export or raise the limit",
    ),
    FileCase(
        "ingest/files/cut-mid-record.json",
        _CUT_MID_JSON[: _CUT_MID_JSON.index("cm-2") - 20].encode(),
        "loaded",
        "amberflo_json",
        (2, 1, 0, 1),
        rejects=(
            (
                2,
                None,
                "amberflo.json.syntax",
                "record 2 is not valid JSON (Expecting ',' delimiter at char 225); the rest of "
                "the array cannot be read: fix or re-upload the file",
            ),
        ),
        events=("cm-1",),
    ),
    FileCase(
        "ingest/files/cut-after-record.json",
        _CUT_AFTER_JSON[:-1].encode(),
        "loaded",
        "amberflo_json",
        (3, 2, 0, 1),
        rejects=(
            (
                3,
                None,
                "amberflo.json.truncated",
                "JSON array ends without ']' after 2 records: the file is cut off; re-upload it",
            ),
        ),
        events=("ca-1", "ca-2"),
    ),
    FileCase(
        "ingest/files/cut-mid-line.ndjson",
        ndjson(rec("nd-1"), rec("nd-2"), rec("nd-3"))[:-25],
        "loaded",
        "amberflo_ndjson",
        (3, 2, 0, 1),
        rejects=(
            (
                3,
                None,
                "amberflo.json.syntax",
                "line is not valid JSON: Expecting ',' delimiter at column 100",
            ),
        ),
        events=("nd-1", "nd-2"),
    ),
    FileCase(
        "ingest/files/ragged.csv",
        _csv(
            _row("rg-1", extra=",a"),
            _row("rg-2"),
            _row("rg-3", extra=",a"),
            _row("rg-4", extra=",a,b"),
            _row("rg-5", extra=",a"),
            header=CSV_HEADER + ",team",
        ),
        "loaded",
        "amberflo_csv",
        (5, 3, 0, 2),
        rejects=(
            (
                2,
                None,
                "amberflo.csv.ragged",
                "row has 5 fields but the header has 6; check quoting and delimiters",
            ),
            (
                4,
                None,
                "amberflo.csv.ragged",
                "row has 7 fields but the header has 6; check quoting and delimiters",
            ),
        ),
        events=("rg-1", "rg-3", "rg-5"),
    ),
    FileCase(
        # Quoted newlines and CRLF line ends: source_row counts data rows, not lines.
        "ingest/files/quoted-crlf.csv",
        _csv(
            _row("qn-1", extra=',"first\r\nsecond"'),
            _row("qn-2", extra=',"a,b ""quoted"""'),
            _row("qn-3", "abc", extra=",x"),
            _row("qn-4", extra=",y"),
            header=CSV_HEADER + ",note",
            newline="\r\n",
        ),
        "loaded",
        "amberflo_csv",
        (4, 3, 0, 1),
        rejects=((3, "meterValue", "amberflo.meterValue.number", "meterValue 'abc' is not a number"),),
        events=("qn-1", "qn-2", "qn-4"),
    ),
    FileCase(
        "ingest/files/bom.csv",
        b"\xef\xbb\xbf" + _csv(_row("bom-1")),
        "loaded",
        "amberflo_csv",
        (1, 1, 0, 0),
        events=("bom-1",),
    ),
    FileCase(
        "ingest/files/latin1-row.csv",
        _csv(
            _row("l1-1", extra=",ok"),
            _row("l1-2", extra=",caf\xe9"),
            _row("l1-3", extra=",ok"),
            header=CSV_HEADER + ",team",
        ).replace("caf\xe9".encode(), b"caf\xe9"),
        "loaded",
        "amberflo_csv",
        (3, 2, 0, 1),
        rejects=(
            (
                2,
                None,
                "amberflo.encoding",
                "row is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
            ),
        ),
        events=("l1-1", "l1-3"),
    ),
    FileCase(
        "ingest/files/latin1-header.csv",
        (CSV_HEADER + ",\xe9quipe\n" + _row("lh-1", extra=",x") + "\n").encode("latin-1"),
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: unknown format: the first line is not UTF-8 text; supported are Amberflo JSON, "
        "NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)",
    ),
    FileCase(
        "ingest/files/unknown.txt",
        b"hostname,cpu,load\nweb-1,4,0.5\n",
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: unknown format: not JSON, not Parquet, and the first line is not an Amberflo CSV "
        "header (needs customerId, meterApiName, meterTimeInMillis, meterValue) nor a FOCUS header; "
        "supported are Amberflo JSON, NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)",
    ),
    FileCase(
        "ingest/files/binary",
        bytes(range(128, 256)) * 4,
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: unknown format: the first line is not UTF-8 text; supported are Amberflo JSON, "
        "NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)",
    ),
    FileCase(
        "ingest/files/not-parquet.parquet",
        b"BilledCost,BillingAccountId\n1,a\n",
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: named .parquet but is not a Parquet file (no PAR1 magic); re-export it",
    ),
    FileCase(
        "ingest/files/fake-magic.parquet",
        b"PAR1" + b"\x00garbage" * 10,
        "failed",
        None,
        (0, 0, 0, 0),
        "{uri}: not a readable FOCUS Parquet file: ",
        error_prefix=True,
    ),
    FileCase(
        "ingest/files/mostly-garbage.ndjson",
        ndjson(rec("mg-1"), rec("mg-2", "abc"), rec("mg-3", "NaN"), rec("mg-4", -1)),
        "failed",
        "amberflo_ndjson",
        (0, 0, 0, 0),
        "{uri}: 3 of 4 rows rejected (75%), over the reject threshold of 50% "
        "(METERHOUSE_REJECT_THRESHOLD); most common: ",
        error_prefix=True,
    ),
    FileCase(
        "ingest/files/good.ndjson",
        ndjson(rec("good-1"), rec("good-2", 2)),
        "loaded",
        "amberflo_ndjson",
        (2, 2, 0, 0),
        events=("good-1", "good-2"),
    ),
]


@dataclass(frozen=True)
class RecordCase:
    name: str
    bad_line: str  # the raw middle line of a 3-line NDJSON file (source_row 2)
    column: str | None
    rule: str
    reason: str


def _line(**fields: Any) -> str:
    record = rec("bad", **{k: v for k, v in fields.items() if v is not ...})
    for k, v in fields.items():
        if v is ...:
            record.pop(k, None)
    return json.dumps(record)


RECORD_CASES = [
    RecordCase("missing-customer", _line(customerId=...), "customerId", "amberflo.customerId.required", "customerId is missing or empty"),
    RecordCase("blank-customer", _line(customerId="  "), "customerId", "amberflo.customerId.required", "customerId is missing or empty"),
    RecordCase("missing-meter", _line(meterApiName=...), "meterApiName", "amberflo.meterApiName.required", "meterApiName is missing or empty"),
    RecordCase("missing-value", _line(meterValue=...), "meterValue", "amberflo.meterValue.required", "meterValue is missing"),
    RecordCase("missing-time", _line(meterTimeInMillis=...), "meterTimeInMillis", "amberflo.meterTimeInMillis.required", "meterTimeInMillis is missing"),
    RecordCase("value-abc", _line(meterValue="abc"), "meterValue", "amberflo.meterValue.number", "meterValue 'abc' is not a number"),
    RecordCase("value-bool", _line(meterValue=True), "meterValue", "amberflo.meterValue.number", "meterValue 'true' is not a number"),
    RecordCase("value-object", _line(meterValue={"v": 1}), "meterValue", "amberflo.meterValue.scalar", "meterValue is an object, expected a single value"),
    RecordCase("customer-array", _line(customerId=["c1"]), "customerId", "amberflo.customerId.scalar", "customerId is an array, expected a single value"),
    RecordCase("value-nan-literal", _line(meterValue=1.5).replace("1.5", "NaN"), "meterValue", "amberflo.meterValue.finite", "meterValue 'NaN' is not a finite number"),
    RecordCase("value-infinity-literal", _line(meterValue=1.5).replace("1.5", "Infinity"), "meterValue", "amberflo.meterValue.finite", "meterValue 'Infinity' is not a finite number"),
    RecordCase("value-nan-string", _line(meterValue="nan"), "meterValue", "amberflo.meterValue.finite", "meterValue 'nan' is not a finite number"),
    RecordCase("value-negative", _line(meterValue=-0.5), "meterValue", "amberflo.meterValue.non_negative", "meterValue '-0.5' is negative; send a correction as its own meter"),
    RecordCase("value-too-precise", _line(meterValue="0.1234567890123"), "meterValue", "amberflo.meterValue.precision", "meterValue '0.1234567890123' has more than 12 decimal places; quantities are stored to 12, round it at the source"),
    RecordCase("time-text", _line(meterTimeInMillis="yesterday"), "meterTimeInMillis", "amberflo.meterTimeInMillis.integer", "meterTimeInMillis 'yesterday' is not an integer of epoch milliseconds"),
    RecordCase("time-fraction", _line(meterTimeInMillis=MS + 0.5), "meterTimeInMillis", "amberflo.meterTimeInMillis.integer", f"meterTimeInMillis '{MS + 0.5}' is not an integer of epoch milliseconds"),
    RecordCase("time-seconds", _line(meterTimeInMillis=MS // 1000), "meterTimeInMillis", "amberflo.meterTimeInMillis.seconds", f"meterTimeInMillis '{MS // 1000}' looks like epoch seconds; Amberflo expects milliseconds (multiply by 1000)"),
    RecordCase("time-far-future", _line(meterTimeInMillis=FAR_FUTURE_MS), "meterTimeInMillis", "amberflo.meterTimeInMillis.future", f"meterTimeInMillis '{FAR_FUTURE_MS}' is more than a day after the file was written"),
    RecordCase("time-before-2000", _line(meterTimeInMillis=BEFORE_2000_MS), "meterTimeInMillis", "amberflo.meterTimeInMillis.too_old", f"meterTimeInMillis '{BEFORE_2000_MS}' is before 2000-01-01"),
    RecordCase("dimensions-array", _line(dimensions=["team"]), "dimensions", "amberflo.dimensions.map", "dimensions must be a JSON object of string values"),
    RecordCase("dimension-object", _line(dimensions={"team": {"name": "x"}}), "dimensions", "amberflo.dimensions.scalar", "dimension 'team' holds an object, expected a string"),
    RecordCase("dimensions-enormous", _line(dimensions={f"k{i:03d}": "v" for i in range(500)}), "dimensions", "amberflo.dimensions.size", "dimensions has 500 keys, more than the limit of 64"),
    RecordCase("dimension-value-huge", _line(dimensions={"team": "x" * 5000}), "dimensions", "amberflo.dimensions.length", "dimension key must be 1..128 characters and its value at most 1024 (key 'team', value of 5000 characters)"),
    RecordCase("not-an-object", "[1, 2, 3]", None, "amberflo.record.object", "record is not a JSON object"),
    RecordCase("bad-json-line", '{"customerId": "c1", meterValue: 1}', None, "amberflo.json.syntax", "line is not valid JSON: Expecting property name enclosed in double quotes at column 22"),
]


def _record_key(case: RecordCase) -> str:
    return f"ingest/records/{case.name}.ndjson"


def _record_body(case: RecordCase) -> bytes:
    good1 = json.dumps(rec(f"{case.name}-g1"))
    good2 = json.dumps(rec(f"{case.name}-g2"))
    return f"{good1}\n{case.bad_line}\n{good2}\n".encode()


@dataclass(frozen=True)
class Run:
    report: BatchReport
    settings: Settings
    s3: Any
    by_key: dict[str, FileReport]


@pytest.fixture(scope="module")
def run(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Every case of this module in one bucket, loaded by ONE ingest run."""
    import boto3
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for case in FILE_CASES:
        put(client, case.key, case.body)
    for rcase in RECORD_CASES:
        put(client, _record_key(rcase), _record_body(rcase))
    put(
        client,
        "ingest/records/non-string-dimensions.ndjson",
        ndjson(rec("nsd-1", dimensions={"gpus": 8, "spot": True, "ratio": 0.5, "gone": None})),
    )
    put(
        client,
        "ingest/records/duplicate-ids.ndjson",
        ndjson(rec("dup-1", 1), rec("dup-2", 2), rec("dup-1", 3), rec(None, 4), rec(None, 4)),
    )
    put(
        client,
        "ingest/records/json-array-nan.json",
        b'[{"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": -Infinity, '
        b'"meterTimeInMillis": %d, "uniqueId": "ja-1"}, ' % MS
        + json.dumps(rec("ja-2")).encode()
        + b", "
        + json.dumps(rec("ja-3")).encode()
        + b"]",
    )
    base = Settings.from_env(tmp_path_factory.mktemp("bad-input") / "warehouse.duckdb")
    settings = dataclasses.replace(base, max_object_bytes=MAX_OBJECT_BYTES)
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    by_key = {f.uri.removeprefix(f"s3://{BUCKET}/"): f for f in report.files}
    yield Run(report, settings, client, by_key)


def _uri(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


def _reason_key(s3: Any, key: str) -> str:
    written = s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]
    return f"failed-requests/{written.date().isoformat()}/{key}.reason.txt"


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.key.rsplit("/", 1)[1] for c in FILE_CASES])
def test_bad_file_has_its_exact_outcome(run: Run, case: FileCase) -> None:
    uri = _uri(case.key)
    report = run.by_key[case.key]
    assert (report.status, report.source_format) == (case.status, case.source_format)
    ledger = q(
        run.settings.warehouse_path,
        "SELECT status, source_format, rows_in, events_loaded, duplicates, rejected, error "
        "FROM ingest_ledger WHERE source_uri = ?",
        [uri],
    )
    assert len(ledger) == 1
    status, fmt, *counts, error = ledger[0]
    assert (status, fmt, tuple(counts)) == (case.status, case.source_format, case.counts)
    expected_error = case.error.format(uri=uri) if case.error else None
    if case.error_prefix:
        assert expected_error is not None and error.startswith(expected_error), error
    else:
        assert error == expected_error
    rejects = q(
        run.settings.warehouse_path,
        "SELECT source_row, column_name, rule, reason FROM rejected_rows WHERE source_uri = ? "
        "ORDER BY source_row",
        [uri],
    )
    assert rejects == list(case.rejects)
    events = q(
        run.settings.warehouse_path,
        "SELECT event_id FROM meter_events WHERE source_uri = ? ORDER BY event_id",
        [uri],
    )
    assert [e[0] for e in events] == sorted(case.events)
    reason_keys = [k for k in bucket_keys(run.s3, "failed-requests/") if k.endswith(f"/{case.key}.reason.txt")]
    if case.status == "failed":
        assert reason_keys == [_reason_key(run.s3, case.key)]
        assert read_key(run.s3, reason_keys[0]) == error + "\n"
    else:
        assert reason_keys == []


@pytest.mark.parametrize("case", RECORD_CASES, ids=[c.name for c in RECORD_CASES])
def test_bad_record_is_rejected_alone_with_rule_and_position(run: Run, case: RecordCase) -> None:
    uri = _uri(_record_key(case))
    report = run.by_key[_record_key(case)]
    assert (report.status, report.rows_in, report.events_loaded, report.duplicates, report.rejected) == (
        "loaded",
        3,
        2,
        0,
        1,
    )
    rows = q(
        run.settings.warehouse_path,
        "SELECT source_row, column_name, rule, reason, raw_record FROM rejected_rows WHERE source_uri = ?",
        [uri],
    )
    assert [r[:4] for r in rows] == [(2, case.column, case.rule, case.reason)]
    # the record is kept for the reader, capped at 4 KiB
    assert rows[0][4] and len(rows[0][4]) <= 4096
    events = q(
        run.settings.warehouse_path,
        "SELECT event_id, source_row FROM meter_events WHERE source_uri = ? ORDER BY source_row",
        [uri],
    )
    assert events == [(f"{case.name}-g1", 1), (f"{case.name}-g2", 3)]


def test_non_string_dimension_values_become_text_and_nulls_are_dropped(run: Run) -> None:
    key = "ingest/records/non-string-dimensions.ndjson"
    assert run.by_key[key].status == "loaded"
    dims = q(run.settings.warehouse_path, "SELECT dimensions FROM meter_events WHERE event_id = 'nsd-1'")
    assert dims == [({"gpus": "8", "ratio": "0.5", "spot": "true"},)]


def test_duplicate_ids_within_one_file_are_stored_once_and_counted(run: Run) -> None:
    key = "ingest/records/duplicate-ids.ndjson"
    report = run.by_key[key]
    assert (report.rows_in, report.events_loaded, report.duplicates, report.rejected) == (5, 3, 2, 0)
    stored = q(
        run.settings.warehouse_path,
        "SELECT event_id, source_row, quantity FROM meter_events WHERE source_uri = ? ORDER BY source_row",
        [_uri(key)],
    )
    # the first copy in the file wins; an id-less record's hashed id dedups its exact repeat
    assert [(r[0], r[1], int(r[2])) for r in stored][:2] == [("dup-1", 1, 1), ("dup-2", 2, 2)]
    assert stored[2][0].startswith("sha256:") and stored[2][1] == 4
    dups = q(
        run.settings.warehouse_path,
        "SELECT source_row, duplicate_of_uri FROM duplicate_events WHERE source_uri = ? ORDER BY 1",
        [_uri(key)],
    )
    assert dups == [(3, _uri(key)), (5, _uri(key))]


def test_json_array_with_non_finite_literal_rejects_that_element_only(run: Run) -> None:
    key = "ingest/records/json-array-nan.json"
    assert run.by_key[key].status == "loaded"
    rows = q(
        run.settings.warehouse_path,
        "SELECT source_row, column_name, rule, reason FROM rejected_rows WHERE source_uri = ?",
        [_uri(key)],
    )
    assert rows == [
        (1, "meterValue", "amberflo.meterValue.finite", "meterValue '-Infinity' is not a finite number")
    ]
    assert q(run.settings.warehouse_path, "SELECT count(*) FROM meter_events WHERE source_uri = ?", [_uri(key)]) == [(2,)]


def test_every_row_of_the_run_is_accounted_for(run: Run) -> None:
    totals = run.report.totals()
    expected_files = len(FILE_CASES) + len(RECORD_CASES) + 3
    assert totals["files"] == expected_files
    assert totals["failed"] == sum(1 for c in FILE_CASES if c.status == "failed")
    assert totals["rows_in"] == totals["events_loaded"] + totals["duplicates"] + totals["rejected"]
    wh = run.settings.warehouse_path
    per_file = q(
        wh,
        """SELECT l.source_uri, l.rows_in, l.events_loaded, l.duplicates, l.rejected,
                  (SELECT count(*) FROM meter_events m WHERE m.source_uri = l.source_uri),
                  (SELECT count(*) FROM duplicate_events d WHERE d.source_uri = l.source_uri),
                  (SELECT count(*) FROM rejected_rows r WHERE r.source_uri = l.source_uri)
           FROM ingest_ledger l ORDER BY 1""",
    )
    assert len(per_file) == expected_files
    for uri, rows_in, loaded, dups, rejected, n_events, n_dups, n_rejects in per_file:
        assert rows_in == loaded + dups + rejected, uri
        assert (n_events, n_dups, n_rejects) == (loaded, dups, rejected), uri
    assert q(wh, "SELECT count(*) - count(DISTINCT event_id) FROM meter_events") == [(0,)]
    # failed files keep nothing, and exactly one reason object each
    failed = {c.key for c in FILE_CASES if c.status == "failed"}
    reasons = bucket_keys(run.s3, "failed-requests/")
    assert len(reasons) == len(failed)
    assert {k.split("/", 2)[2].removesuffix(".reason.txt") for k in reasons} == failed


def test_a_failed_file_is_not_retried_until_it_changes_then_loads(run: Run) -> None:
    again = ingest([f"s3://{BUCKET}/ingest/files/"], run.settings)
    assert again.files == []
    fixed = "ingest/files/unknown.txt"
    put(run.s3, fixed, _csv(_row("fixed-1")))
    try:
        report = ingest([f"s3://{BUCKET}/ingest/files/"], run.settings)
        assert [(f.uri, f.status, f.events_loaded) for f in report.files] == [(_uri(fixed), "loaded", 1)]
        assert q(
            run.settings.warehouse_path,
            "SELECT status, error, attempts FROM ingest_ledger WHERE source_uri = ?",
            [_uri(fixed)],
        ) == [("loaded", None, 2)]
    finally:  # keep the module's shared run as the other tests expect it
        put(run.s3, fixed, next(c.body for c in FILE_CASES if c.key == fixed))
        ingest([f"s3://{BUCKET}/ingest/files/"], run.settings)


@pytest.mark.parametrize(
    ("threshold", "status", "rejected"), [("0.2", "failed", 0), ("0.25", "loaded", 1)]
)
def test_reject_threshold_is_configurable_from_the_environment(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: str, status: str, rejected: int
) -> None:
    monkeypatch.setenv("METERHOUSE_REJECT_THRESHOLD", threshold)
    settings = Settings.from_env(tmp_path / "warehouse.duckdb")
    put(s3, "ingest/quarter-bad.ndjson", ndjson(rec("a"), rec("b"), rec("c"), rec("d", "abc")))
    put(s3, "ingest/good.ndjson", ndjson(rec("e")))
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    by_name = {f.uri.rsplit("/", 1)[1]: f for f in report.files}
    assert (by_name["quarter-bad.ndjson"].status, by_name["quarter-bad.ndjson"].rejected) == (status, rejected)
    assert by_name["good.ndjson"].status == "loaded"
    if status == "failed":
        assert by_name["quarter-bad.ndjson"].error == (
            f"s3://{BUCKET}/ingest/quarter-bad.ndjson: 1 of 4 rows rejected (25%), over the reject "
            "threshold of 20% (METERHOUSE_REJECT_THRESHOLD); most common: "
            "amberflo.meterValue.number x1. Fix the export and upload it again"
        )
        assert q(settings.warehouse_path, "SELECT event_id FROM meter_events") == [("e",)]
        assert q(settings.warehouse_path, "SELECT count(*) FROM rejected_rows") == [(0,)]


def test_reuploading_a_loaded_file_as_garbage_removes_its_rows(s3: Any, settings: Settings) -> None:
    put(s3, "ingest/a.ndjson", ndjson(rec("a1"), rec("a2")))
    put(s3, "ingest/b.ndjson", ndjson(rec("a2"), rec("b1")))
    ingest([f"s3://{BUCKET}/ingest/"], settings)
    put(s3, "ingest/a.ndjson", gzip.compress(ndjson(rec("a1")))[:-4])
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    assert [(f.uri.rsplit("/", 1)[1], f.status) for f in report.files] == [("a.ndjson", "failed")]
    # a1 is gone with its file; a2 survives through b.ndjson's copy, promoted
    assert q(settings.warehouse_path, "SELECT event_id, source_uri FROM meter_events ORDER BY 1") == [
        ("a2", _uri("ingest/b.ndjson")),
        ("b1", _uri("ingest/b.ndjson")),
    ]
    assert q(settings.warehouse_path, "SELECT count(*) FROM duplicate_events") == [(0,)]


@pytest.mark.timeout(120)  # a per-character scan of the line took minutes: fail, don't hang
def test_a_single_line_of_hundreds_of_megabytes(tmp_path: Path) -> None:
    """One 200 MiB NDJSON line (a runaway dimension value) is rejected by its own rule with a
    4 KiB preview, and the file's other records load; the object-size limit refuses the same
    object outright when set lower. (A local folder source: moto adds nothing here but copies.)"""
    size = 200 * 1024 * 1024
    folder = tmp_path / "exports"
    folder.mkdir()
    with open(folder / "huge.ndjson", "wb") as fh:
        fh.write(ndjson(rec("before")) + b"\n")
        fh.write(b'{"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": 1, ')
        fh.write(b'"meterTimeInMillis": %d, "uniqueId": "huge", "dimensions": {"blob": "' % MS)
        fh.write(b"x" * size)
        fh.write(b'"}}\n')
        fh.write(ndjson(rec("after")) + b"\n")
    (folder / "small.ndjson").write_bytes(ndjson(rec("s1"), rec("s2")))
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    report = ingest([str(folder)], settings)
    by_name = {Path(f.uri).name: f for f in report.files}
    huge = by_name["huge.ndjson"]
    assert (huge.status, huge.rows_in, huge.events_loaded, huge.rejected) == ("loaded", 3, 2, 1)
    assert by_name["small.ndjson"].events_loaded == 2
    rows = q(
        settings.warehouse_path,
        "SELECT source_row, column_name, rule, reason, length(raw_record) FROM rejected_rows",
    )
    assert rows == [
        (
            2,
            "dimensions",
            "amberflo.dimensions.length",
            "dimension key must be 1..128 characters and its value at most 1024 "
            f"(key 'blob', value of {size} characters)",
            4096,
        )
    ]
    limit = 64 * 1024 * 1024
    limited = dataclasses.replace(settings, max_object_bytes=limit)
    forced = ingest([str(folder / "huge.ndjson")], limited, force=True)
    length = (folder / "huge.ndjson").stat().st_size
    assert [(f.status, f.error) for f in forced.files] == [
        (
            "failed",
            f"{folder / 'huge.ndjson'}: object is {length} bytes, over the limit of {limit} "
            "(METERHOUSE_MAX_OBJECT_BYTES); split the export or raise the limit",
        )
    ]
    assert q(settings.warehouse_path, "SELECT count(*) FROM rejected_rows") == [(0,)]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events ORDER BY 1") == [
        ("s1",),
        ("s2",),
    ]
