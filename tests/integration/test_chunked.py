"""Large exports load chunk by chunk: the warehouse ends up exactly as if read in one piece.

Every file here is loaded twice from the local S3 over HTTP: once whole (the default chunk
size is far larger than the file) and once with METERHOUSE_CHUNK_BYTES set so small that each
file streams through in dozens of chunks (spooled to disk, gunzipped on the fly, cut at record
boundaries). Every table and every lake file must be identical, row for row.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import ingest
from etl.samples.amberflo import generate_amberflo_exports
from etl.settings import Settings
from tests.conftest import BUCKET
from tests.integration._support import MS, lake_digest, put, q, rec, warehouse_digest

pytestmark = [pytest.mark.integration]

SMALL_CHUNK = 700


def _csv_bytes(rows: list[dict[str, Any]], *, bom: bool = False, crlf: bool = False) -> bytes:
    fields = [
        "customerId",
        "meterApiName",
        "meterValue",
        "meterTimeInMillis",
        "uniqueId",
        "region",
        "note",
    ]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(
        out, fields, lineterminator="\r\n" if crlf else "\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def _tricky_rows(n: int) -> list[dict[str, Any]]:
    """Rows with quoted commas and newlines, retried ids far apart, bad values, no ids."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {
            "customerId": f"c{i % 7}",
            "meterApiName": "gpu_hours",
            "meterValue": f"{i % 13}.25",
            "meterTimeInMillis": MS + i * 1000,
            "uniqueId": f"u{i}",
            "region": "eu, west" if i % 5 == 0 else "us",
            "note": "line one\nline two" if i % 9 == 0 else "",
        }
        if i % 17 == 0:
            row["uniqueId"] = f"u{max(i - 40, 0)}"  # a retry of a row many chunks earlier
        if i % 23 == 0:
            row["meterValue"] = "not-a-number"
        if i % 29 == 0:
            row["uniqueId"] = ""
        rows.append(row)
    return rows


def _ndjson_lines(rows: list[dict[str, Any]]) -> bytes:
    lines = []
    for i, row in enumerate(rows):
        record = {k: v for k, v in row.items() if k not in ("region", "note") and v != ""}
        record["dimensions"] = {"region": row["region"]}
        lines.append(json.dumps(record))
        if i % 31 == 0:
            lines.append("")  # blank lines keep their numbers
        if i % 37 == 0:
            lines.append('{"customerId": "c1", "meterApiName": ')  # a cut line
    return ("\n".join(lines) + "\n").encode()


def _exports() -> list[tuple[str, bytes]]:
    rows = _tricky_rows(400)
    files = [
        ("ingest/big/tricky.csv", _csv_bytes(rows)),
        (
            "ingest/big/tricky-crlf-bom.csv.gz",
            gzip.compress(_csv_bytes(rows[::-1], bom=True, crlf=True)),
        ),
        ("ingest/big/tricky.ndjson", _ndjson_lines(rows)),
        ("ingest/big/tricky.ndjson.gz", gzip.compress(_ndjson_lines(rows[100:]))),
    ]
    generated = generate_amberflo_exports(start=dt.date(2026, 10, 1), days=3, customers=40, seed=11)
    return files + generated


def _load(
    s3: Any, root: Path, chunk_bytes: int | None, prefix: str = "ingest/"
) -> tuple[Settings, Any]:
    settings = Settings.from_env(root / "warehouse.duckdb")
    if chunk_bytes is not None:
        settings = dataclasses.replace(settings, chunk_bytes=chunk_bytes, spool_dir=root)
    return settings, ingest([f"s3://{BUCKET}/{prefix}"], settings)


def test_chunked_load_equals_whole_load(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exports = _exports()
    for key, body in exports:
        put(s3, key, body)

    whole_settings, whole = _load(s3, tmp_path / "whole", None)
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline"):
        chunked_settings, chunked = _load(s3, tmp_path / "chunked", SMALL_CHUNK)

    chunk_lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("step=chunk ")
    ]
    for key in ("tricky-crlf-bom.csv.gz", "tricky.ndjson.gz"):
        assert sum(f"/big/{key} " in line for line in chunk_lines) > 20, key
    # A strictly formed CSV export and an NDJSON one (blank and cut lines decided line by
    # line) are typed by DuckDB from their file instead (their odd rows still normalized in
    # chunks): the same warehouse either way.
    typed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step=typed ")]
    for key in ("tricky.csv", "tricky.ndjson"):
        assert f"source=s3://{BUCKET}/ingest/big/{key}" in [line.split()[1] for line in typed]

    # A report is the file's counts when its own load committed: loaded one by one, a file's
    # copies can still move to a later file that the duplicate rule prefers, so its loaded /
    # duplicate split is compared where it is final, in the ledger (the digests below).
    def settled(f: Any) -> Any:
        return dataclasses.replace(f, seconds=0, events_loaded=0, duplicates=0)

    assert {f.uri: settled(f) for f in chunked.files} == {f.uri: settled(f) for f in whole.files}
    assert all(f.status == "loaded" for f in whole.files)
    totals = whole.totals()
    assert totals["duplicates"] > 20 and totals["rejected"] > 20
    # A chunk without blank or cut lines takes the vectorized reader, whose rejected rows
    # carry the record re-rendered as JSON rather than the line's own text: raw_record is the
    # one column allowed to differ.
    chunked_digest = warehouse_digest(chunked_settings.warehouse_path)
    whole_digest = warehouse_digest(whole_settings.warehouse_path)
    assert chunked_digest.pop("rejected_rows") and whole_digest.pop("rejected_rows")
    assert chunked_digest == whole_digest
    # A large object is hashed from its spool file on a thread of its own: every byte
    # downloaded counts, as when it is hashed in memory.
    checksums = dict(
        q(chunked_settings.warehouse_path, "SELECT source_uri, checksum_sha256 FROM ingest_ledger")
    )
    assert checksums == {
        f"s3://{BUCKET}/{key}": hashlib.sha256(body).hexdigest() for key, body in exports
    }
    rejects = (
        "SELECT source_uri, source_row, column_name, rule, reason FROM rejected_rows ORDER BY ALL"
    )
    assert q(chunked_settings.warehouse_path, rejects) == q(whole_settings.warehouse_path, rejects)
    events_lake = {
        k: v
        for k, v in lake_digest(whole_settings.lake_path).items()
        if k.startswith("meter_events/")
    }
    assert len(events_lake) >= 3
    assert {
        k: v
        for k, v in lake_digest(chunked_settings.lake_path).items()
        if k.startswith("meter_events/")
    } == events_lake
    # Rejects name the row of the whole file, whichever chunk it was in.
    assert q(
        chunked_settings.warehouse_path,
        "SELECT source_row, rule FROM rejected_rows WHERE source_uri LIKE '%/big/tricky.csv' "
        "ORDER BY source_row LIMIT 3",
    ) == [
        (1, "amberflo.meterValue.number"),
        (24, "amberflo.meterValue.number"),
        (47, "amberflo.meterValue.number"),
    ]


def test_too_many_rejects_in_later_chunks_fail_the_file_and_load_none_of_it(
    s3: Any, tmp_path: Path
) -> None:
    good = [json.dumps(rec(f"g{i}")) for i in range(50)]
    bad = ['{"customerId": "c1"}'] * 120
    put(s3, "ingest/mostly-bad.ndjson", ("\n".join(good + bad) + "\n").encode())
    put(s3, "ingest/fine.ndjson", (json.dumps(rec("f1")) + "\n").encode())

    settings, report = _load(s3, tmp_path, 300)

    by_name = {f.uri.rsplit("/", 1)[1]: f for f in report.files}
    assert by_name["fine.ndjson"].status == "loaded"
    failed = by_name["mostly-bad.ndjson"]
    assert failed.status == "failed"
    assert failed.error is not None
    assert "120 of 170 rows rejected (71%), over the reject threshold of 50%" in failed.error
    assert q(
        settings.warehouse_path,
        "SELECT count(*) FROM meter_events WHERE source_uri LIKE '%mostly-bad%'",
    ) == [(0,)]
    assert q(
        settings.warehouse_path,
        "SELECT count(*) FROM rejected_rows WHERE source_uri LIKE '%mostly-bad%'",
    ) == [(0,)]
    assert q(
        settings.warehouse_path,
        "SELECT status FROM ingest_ledger WHERE source_uri LIKE '%mostly-bad%'",
    ) == [("failed",)]
    # the chunks it staged went with it
    assert q(
        settings.warehouse_path,
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%stage%'",
    ) == [(0,)]


def test_a_gzip_cut_after_many_chunks_fails_the_file_and_loads_none_of_it(
    s3: Any, tmp_path: Path
) -> None:
    lines = "".join(json.dumps(rec(f"z{i}", ms=MS + i)) + "\n" for i in range(3000))
    put(s3, "ingest/cut.ndjson.gz", gzip.compress(lines.encode())[:-30])

    settings, report = _load(s3, tmp_path, 2000)

    [file] = report.files
    assert file.status == "failed"
    assert file.error is not None and "gzip data is truncated or corrupt" in file.error
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(0,)]


def test_chunked_focus_csv_load_equals_whole_load(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from etl.samples.focus import generate_focus_exports

    exports = generate_focus_exports(start=dt.date(2026, 9, 1), days=45, seed=5)
    csvs = [(k, d) for k, d in exports if ".csv" in k]
    assert len(csvs) >= 2
    for key, body in csvs:
        put(s3, key, body)

    whole_settings, whole = _load(s3, tmp_path / "whole", None, "focus/")
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline"):
        chunked_settings, chunked = _load(s3, tmp_path / "chunked", 20_000, "focus/")

    chunk_lines = [m for m in caplog.messages if m.startswith("step=chunk ")]
    for key, _ in csvs:
        assert sum(f"/{key} " in line for line in chunk_lines) >= 3, key

    assert all(f.status == "loaded" for f in whole.files)
    assert {f.uri: dataclasses.replace(f, seconds=0) for f in chunked.files} == {
        f.uri: dataclasses.replace(f, seconds=0) for f in whole.files
    }
    assert warehouse_digest(chunked_settings.warehouse_path) == warehouse_digest(
        whole_settings.warehouse_path
    )
    items = q(
        chunked_settings.warehouse_path,
        "SELECT count(*), count(DISTINCT source_row) FROM focus_line_items",
    )
    assert items[0][0] > 1000


def test_focus_csv_of_more_rows_than_focus_chunk_rows_streams_and_equals_whole_load(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """FOCUS rows are wide: an export of more rows than METERHOUSE_FOCUS_CHUNK_ROWS streams in
    chunks of about that many rows even when it is far under METERHOUSE_CHUNK_BYTES."""
    from etl.samples.focus import generate_focus_exports

    exports = generate_focus_exports(start=dt.date(2026, 9, 1), days=45, seed=5)
    csvs = [(k, d) for k, d in exports if ".csv" in k]
    for key, body in csvs:
        put(s3, key, body)

    whole_settings, whole = _load(s3, tmp_path / "whole", None, "focus/")
    few_rows = dataclasses.replace(
        Settings.from_env(tmp_path / "rows" / "warehouse.duckdb"), focus_chunk_rows=50
    )
    assert all(len(body) < few_rows.chunk_bytes for _, body in csvs)
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline"):
        chunked = ingest([f"s3://{BUCKET}/focus/"], few_rows)

    chunks: dict[str, list[int]] = {}
    for m in caplog.messages:
        if m.startswith("step=chunk "):
            fields = dict(f.split("=", 1) for f in m.split()[1:])
            chunks.setdefault(fields["source"], []).append(int(fields["chunk_bytes"]))
    # Every export streamed (each has more than 50 rows), in chunks of about 50 rows but never
    # under the 64 KiB floor: a chunk ends at the first record boundary past it.
    assert set(chunks) == {f"s3://{BUCKET}/{key}" for key, _ in csvs}
    assert sum(len(sizes) for sizes in chunks.values()) > 2 * len(csvs), chunks
    assert max(max(sizes) for sizes in chunks.values()) < 64 * 1024 + 4096
    assert {f.uri: dataclasses.replace(f, seconds=0) for f in chunked.files} == {
        f.uri: dataclasses.replace(f, seconds=0) for f in whole.files
    }
    assert warehouse_digest(few_rows.warehouse_path) == warehouse_digest(
        whole_settings.warehouse_path
    )


def test_chunked_focus_redelivery_replaces_the_older_delivery(s3: Any, tmp_path: Path) -> None:
    import time

    from etl.samples.focus import generate_focus_exports

    first = generate_focus_exports(start=dt.date(2026, 9, 1), days=30, seed=5)
    second = generate_focus_exports(start=dt.date(2026, 9, 1), days=30, seed=6)
    key, body = next(
        (k, d) for k, d in first if k.startswith("focus/aws/") and k.endswith(".csv.gz")
    )
    folder = key.rsplit("/", 1)[0]
    settings = Settings.from_env(tmp_path / "warehouse.duckdb")
    settings = dataclasses.replace(
        settings, chunk_bytes=20_000, spool_dir=tmp_path, focus_delivery_window_s=0
    )
    put(s3, f"{folder}/delivery-1.csv.gz", body)
    ingest([f"s3://{BUCKET}/focus/"], settings)
    time.sleep(1.1)  # S3 last-modified times have whole seconds
    put(s3, f"{folder}/delivery-2.csv.gz", next(d for k, d in second if k == key))
    ingest([f"s3://{BUCKET}/focus/"], settings)

    assert q(
        settings.warehouse_path, "SELECT DISTINCT split_part(source_uri, '/', -1) FROM meter_events"
    ) == [("delivery-2.csv.gz",)]
    ledger = {
        r[0].rsplit("/", 1)[1]: r[1:]
        for r in q(
            settings.warehouse_path,
            "SELECT source_uri, rows_in, events_loaded, superseded FROM ingest_ledger",
        )
    }
    rows_first = ledger["delivery-1.csv.gz"][0]
    assert ledger["delivery-1.csv.gz"] == (rows_first, 0, rows_first)
    assert ledger["delivery-2.csv.gz"][1] == ledger["delivery-2.csv.gz"][0] > 0
    assert q(settings.warehouse_path, "SELECT count(*) FROM focus_line_items") == [
        (ledger["delivery-2.csv.gz"][0],)
    ]


def test_a_json_array_is_read_whole_up_to_its_own_limit(s3: Any, tmp_path: Path) -> None:
    body = json.dumps([rec(f"j{i}") for i in range(300)]).encode()
    put(s3, "ingest/array.json", body)
    settings = dataclasses.replace(
        Settings.from_env(tmp_path / "a" / "warehouse.duckdb"), chunk_bytes=1000
    )

    [loaded] = ingest([f"s3://{BUCKET}/ingest/"], settings).files
    assert (loaded.status, loaded.events_loaded) == ("loaded", 300)

    limited = dataclasses.replace(
        Settings.from_env(tmp_path / "b" / "warehouse.duckdb"),
        chunk_bytes=1000,
        max_whole_bytes=len(body) - 1,
    )
    [refused] = ingest([f"s3://{BUCKET}/ingest/"], limited).files
    assert refused.status == "failed"
    assert refused.error == (
        f"s3://{BUCKET}/ingest/array.json: amberflo_json objects are read whole into memory and "
        f"this one is over {len(body) - 1} bytes (METERHOUSE_MAX_WHOLE_BYTES); export it as NDJSON "
        "or CSV (which stream in chunks), split it, or raise the limit"
    )


def test_identical_focus_rows_in_different_chunks_stay_distinct_charges(
    s3: Any, tmp_path: Path
) -> None:
    from etl.samples.focus import generate_focus_exports

    key, body = next(
        (k, d)
        for k, d in generate_focus_exports(start=dt.date(2026, 9, 1), days=5, seed=5)
        if k.endswith(".csv.gz")
    )
    text = gzip.decompress(body)
    header, _, rows = text.partition(b"\n")
    # the same charges three times over: identical rows, far apart in the file
    put(s3, "focus/x/BILLING_PERIOD=2026-09/repeated.csv", header + b"\n" + rows * 3)

    whole_settings, whole = _load(s3, tmp_path / "whole", None, "focus/")
    chunked_settings, chunked = _load(s3, tmp_path / "chunked", 5_000, "focus/")

    [w], [c] = whole.files, chunked.files
    assert (w.status, w.duplicates, w.rejected) == ("loaded", 0, 0)
    assert dataclasses.replace(c, seconds=0) == dataclasses.replace(w, seconds=0)
    assert warehouse_digest(chunked_settings.warehouse_path) == warehouse_digest(
        whole_settings.warehouse_path
    )
