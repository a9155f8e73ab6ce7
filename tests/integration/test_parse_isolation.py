"""One file's parse error is that file's failure (or that row's reject): every other file of
the run loads. Local folders through etl.jobs.ingest.ingest into a DuckDB file."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from etl.formats import registry
from etl.formats.amberflo.parser import AmberfloChunks
from etl.jobs.ingest import ingest
from etl.jobs.read import parse_failures_fail_the_file
from tests.integration._support import MS, local_exports, ndjson, q, rec, write_local

pytestmark = [pytest.mark.integration]

HEADER = "customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId,team"


def _write_raw(folder: Path, name: str, body: bytes) -> None:
    (folder / name).write_bytes(body)
    os.utime(folder / name, (MS / 1000 + 3600, MS / 1000 + 3600))


def _hostile_folder(src: Path) -> None:
    write_local(src, "a-good.ndjson", rec("a1"))
    _write_raw(
        src,
        "b-big-cell.csv",
        f"{HEADER}\nc1,gpu_hours,1,{MS},b1,{'x' * 140_000}\nc1,gpu_hours,1,{MS},b2,t\n".encode(),
    )
    deep = json.dumps(rec("d1"))[:-1] + ', "dimensions": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _write_raw(src, "c-deep.ndjson", ndjson(rec("c1")) + b"\n" + deep.encode() + b"\n")
    _write_raw(
        src,
        "d-deep.json",
        ("[" + json.dumps(rec("e1")) + "," + "[" * 100_000 + "]" * 100_000 + "]").encode(),
    )
    write_local(src, "z-good.ndjson", rec("z1"))


@pytest.mark.parametrize("chunk_bytes", [None, 64 * 1024], ids=["whole", "chunked"])
def test_a_cell_over_128_kib_and_deep_json_are_rejects_and_every_file_loads(
    tmp_path: Path, chunk_bytes: int | None
) -> None:
    src, cfg = local_exports(tmp_path)
    if chunk_bytes is not None:
        # Chunk by chunk through the readers (not typed by DuckDB from the file).
        cfg = dataclasses.replace(
            cfg, chunk_bytes=chunk_bytes, spool_dir=tmp_path, typed_load=False
        )
    _hostile_folder(src)

    report = ingest([str(src)], cfg)

    wh = cfg.warehouse_path
    assert {
        Path(f.uri).name: (f.status, f.rows_in, f.events_loaded, f.rejected) for f in report.files
    } == {
        "a-good.ndjson": ("loaded", 1, 1, 0),
        "b-big-cell.csv": ("loaded", 2, 1, 1),
        "c-deep.ndjson": ("loaded", 2, 1, 1),
        "d-deep.json": ("loaded", 2, 1, 1),
        "z-good.ndjson": ("loaded", 1, 1, 0),
    }
    assert q(wh, "SELECT event_id FROM meter_events ORDER BY 1") == [
        ("a1",),
        ("b2",),
        ("c1",),
        ("e1",),
        ("z1",),
    ]
    assert q(
        wh,
        "SELECT regexp_extract(source_uri, '[^/]+$'), source_row, rule FROM rejected_rows ORDER BY 1",
    ) == [
        ("b-big-cell.csv", 1, "amberflo.dimensions.length"),
        ("c-deep.ndjson", 2, "amberflo.json.depth"),
        ("d-deep.json", 2, "amberflo.json.depth"),
    ]


def _explode(exc: BaseException) -> Any:
    def parse(self: Any, data: bytes, *args: Any, **kwargs: Any) -> Any:
        if b"boom" in data:
            raise exc
        return original[type(self)](self, data, *args, **kwargs)

    original = {
        type(registry.AMBERFLO): type(registry.AMBERFLO).parse,
        AmberfloChunks: AmberfloChunks.parse,
    }
    return parse


@pytest.mark.parametrize(
    ("chunk_bytes", "exc", "named"),
    [
        (None, RuntimeError("reader state\nbroken"), "RuntimeError: reader state broken"),
        (None, ValueError("odd"), "ValueError: odd"),
        (400, pl.exceptions.PanicException("polars panicked"), "PanicException: polars panicked"),
        (400, KeyError("k"), "KeyError: 'k'"),
    ],
    ids=["whole-runtime", "whole-value", "chunked-panic", "chunked-key"],
)
def test_an_unexpected_exception_while_parsing_fails_only_that_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_bytes: int | None,
    exc: BaseException,
    named: str,
) -> None:
    src, cfg = local_exports(tmp_path)
    if chunk_bytes is not None:
        # Chunk by chunk through the readers (not typed by DuckDB from the file).
        cfg = dataclasses.replace(
            cfg, chunk_bytes=chunk_bytes, spool_dir=tmp_path, typed_load=False
        )
    parse = _explode(exc)
    monkeypatch.setattr(type(registry.AMBERFLO), "parse", parse)
    monkeypatch.setattr(AmberfloChunks, "parse", parse)
    write_local(src, "a.ndjson", *[rec(f"a{i}") for i in range(12)])
    write_local(src, "b.ndjson", *[rec(f"boom{i}") for i in range(12)])
    write_local(src, "c.ndjson", *[rec(f"c{i}") for i in range(12)])

    report = ingest([str(src)], cfg)

    uri = str(src / "b.ndjson")
    step = "parsing amberflo_ndjson" + (" (rows after 0)" if chunk_bytes else "")
    error = (
        f"{uri}: {step} failed: {named}; no rule of meterhouse names this input, so the whole "
        "file is marked failed and the other files load: check the file (encoding, quoting, "
        "nesting), re-export or fix it and run again, and report this message so it can "
        "become a per-row rule"
    )
    assert {Path(f.uri).name: (f.status, f.events_loaded, f.error) for f in report.files} == {
        "a.ndjson": ("loaded", 12, None),
        "b.ndjson": ("failed", 0, error),
        "c.ndjson": ("loaded", 12, None),
    }
    wh = cfg.warehouse_path
    assert q(wh, "SELECT status, error FROM ingest_ledger WHERE source_uri = ?", [uri]) == [
        ("failed", error)
    ]
    assert q(wh, "SELECT count(*) FROM meter_events") == [(24,)]
    assert (src / "failed-requests").exists()


def test_storage_errors_are_not_turned_into_file_failures(tmp_path: Path) -> None:
    # The guard passes OSError (a full disk, a vanished spool) through: not the file's fault.
    with pytest.raises(OSError, match="No space left"):
        with parse_failures_fail_the_file("s3://b/k", "parsing"):
            raise OSError(28, "No space left on device")
