"""Reading source objects: whole into memory and parsed, or opened to be parsed chunk by chunk."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO

import polars as pl

from etl.errors import FormatError, MeterhouseError, ParseFailed
from etl.formats.amberflo.duckdb_csv import TypedPlan, latest_event_ms
from etl.formats.amberflo.typed import reads_alike, typed_plan
from etl.formats.base import (
    Chunking,
    ChunkParser,
    ParsedSource,
    ParseOptions,
    SourceFormat,
    no_rows,
)
from etl.formats.focus.parser import FocusChunks
from etl.formats.focus.typed import FocusPlan, focus_plan
from etl.formats.registry import chunk_parser, chunking, parse_as, sniff_format
from etl.jobs.observer import NO_OBSERVER, Observer, Phase, timed
from etl.settings import Settings
from etl.sources.discovery import SourceObject
from etl.sources.stores import ObjectStore, sha256_hex
from etl.sources.streams import DecompressedStream, record_chunks
from etl.validate import over_threshold, validate_events
from etl.warehouse import Chunk, Connection, prepare_events, stage_typed
from etl.warehouse.load import Staged, Stager
from etl.warehouse.typed_focus import stage_typed_focus

# The ingest's logger: operators (and tests) filter on it.
log = logging.getLogger("meterhouse.pipeline")


@contextlib.contextmanager
def parse_failures_fail_the_file(uri: str, step: str) -> Iterator[None]:
    """Turn an exception no parser rule names, raised while reading one file (`step`: what was
    being done), into that file's ParseFailed, so it fails alone and the run goes on.

    Meterhouse's own errors pass unchanged (a SourceChanged stays retryable); so do OSError
    (a full disk, the spool) and MemoryError, which are the machine's, not the file's.
    """
    try:
        yield
    except (MeterhouseError, OSError, MemoryError):
        raise
    except (Exception, pl.exceptions.PanicException) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ParseFailed(
            f"{uri}: {step} failed: {type(exc).__name__}: {detail}; no rule of meterhouse "
            "names this input, so the whole file is marked failed and the other files load: "
            "check the file (encoding, quoting, nesting), re-export or fix it and run again, "
            "and report this message so it can become a per-row rule"
        ) from exc


def parse_options(settings: Settings) -> ParseOptions:
    """What the parsers need from the settings."""
    return ParseOptions(
        focus_customer_from=settings.focus_customer_from,
        prometheus_mapping=settings.prometheus_mapping,
    )


@dataclass(frozen=True)
class ParsedObject:
    """One object read and parsed whole, not yet validated or loaded."""

    obj: SourceObject
    checksum: str
    parsed: ParsedSource
    started: float


@dataclass
class StreamingObject:
    """An object larger than one chunk: read on demand, loaded chunk by chunk."""

    obj: SourceObject
    checksum: str
    source_format: SourceFormat
    chunking: Chunking
    stream: DecompressedStream
    first: bytes
    started: float
    spool: BinaryIO | None
    typed: tuple[TypedPlan | FocusPlan, str] | None = None
    """A clean Amberflo or FOCUS CSV export's typing plan and file path (`typed_load_plan`)."""

    def close(self) -> None:
        """Close the spool file under the stream (if any)."""
        if self.spool is not None:
            self.spool.close()


def read_object(
    store: ObjectStore, obj: SourceObject, settings: Settings, observer: Observer = NO_OBSERVER
) -> ParsedObject | StreamingObject:
    """Read an object and parse it whole, or, for a CSV/NDJSON export larger than
    METERHOUSE_CHUNK_BYTES once decompressed (FOCUS CSV: or of more rows than
    METERHOUSE_FOCUS_CHUNK_ROWS), open it for loading chunk by chunk.

    Objects over the chunk size are downloaded to a spool file first (never into memory).
    """
    started = time.monotonic()
    info = obj.info()
    spool: BinaryIO | None = None
    raw: BinaryIO
    hashing: Future[str] | None = None
    if obj.size <= settings.chunk_bytes:
        with timed(observer, Phase.READ):
            data = store.read(info)
        with timed(observer, Phase.CHECKSUM):
            checksum = sha256_hex(data)
        raw = io.BytesIO(data)
    else:
        # A local file is read in place; an object is downloaded to a spool file first.
        with timed(observer, Phase.READ):
            spool = store.open_file(info, settings.spool_dir)
        try:
            # Hashed on a thread of its own while the format is found and the export checked
            # (hashlib and numpy release the GIL); the time reported is the wait for it.
            path = file_path(spool)
            if path is not None:
                spool.seek(0)  # a downloaded spool's last bytes are flushed by the seek
                hashing = sha256_beside(path)
            else:
                with timed(observer, Phase.CHECKSUM):
                    checksum = sha256_of(spool)
        except BaseException:
            spool.close()
            raise
        raw = spool
    try:
        with timed(observer, Phase.DECOMPRESS):
            stream = DecompressedStream(raw, obj.uri, settings.max_object_bytes)
            first = stream.read_upto(settings.chunk_bytes)
            more = stream.read_upto(1)
            # FOCUS rows are wide: an export of more rows than METERHOUSE_FOCUS_CHUNK_ROWS
            # streams even when it is under the chunk size.
            many = not more and first.count(b"\n") > settings.focus_chunk_rows
            with parse_failures_fail_the_file(obj.uri, "detecting the format"):
                fmt = sniff_format(first, obj.uri) if more or many else None
        spec = chunking(fmt) if fmt is not None else None
        if spec is not None and (more or (many and spec.wide)):
            assert fmt is not None
            item = StreamingObject(obj, "", fmt, spec, stream, first + more, started, spool)
            # Whether DuckDB may type it from its file: checked here, beside the reading.
            item.typed = typed_load_plan(item, settings, observer)
            if hashing is not None:
                with timed(observer, Phase.CHECKSUM):
                    checksum = hashing.result()
            item.checksum = checksum
            return item
        with timed(observer, Phase.DECOMPRESS):
            whole = (
                first + more + read_whole_rest(stream, len(first) + 1, fmt, settings)
                if more
                else first
            )
        if hashing is not None:
            with timed(observer, Phase.CHECKSUM):
                checksum = hashing.result()
    except BaseException:
        if hashing is not None:
            wait([hashing])
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.close()
    with (
        timed(observer, Phase.DECOMPRESS),
        parse_failures_fail_the_file(obj.uri, "detecting the format"),
    ):
        fmt = sniff_format(whole, obj.uri)
    with timed(observer, Phase.PARSE, fmt), parse_failures_fail_the_file(obj.uri, f"parsing {fmt}"):
        parsed = parse_as(whole, fmt, obj.uri, info.last_modified, parse_options(settings))
    return ParsedObject(obj, checksum, parsed, started)


def read_whole_rest(
    stream: DecompressedStream, read: int, fmt: SourceFormat | None, settings: Settings
) -> bytes:
    """The rest of an object that is parsed whole (JSON array, FOCUS Parquet), refused
    beyond METERHOUSE_MAX_WHOLE_BYTES instead of exhausting memory."""
    rest = stream.read_upto(settings.max_whole_bytes - read + 1)
    if read + len(rest) > settings.max_whole_bytes:
        raise FormatError(
            f"{stream.uri}: {fmt} objects are read whole into memory and this one "
            f"is over {settings.max_whole_bytes} bytes (METERHOUSE_MAX_WHOLE_BYTES); export it as "
            "NDJSON or CSV (which stream in chunks), split it, or raise the limit"
        )
    return rest


def sha256_beside(path: str) -> Future[str]:
    """The SHA-256 of the file at `path`, computed on a thread of its own through a handle of
    its own (opened here, so the file may be closed by the caller once the result is in)."""
    handle = open(path, "rb")  # noqa: SIM115 - closed by the thread
    future: Future[str] = Future()

    def run() -> None:
        try:
            with handle:
                future.set_result(sha256_of(handle))
        except BaseException as exc:  # handed to the caller by `result()`
            future.set_exception(exc)

    threading.Thread(target=run, name="meterhouse-sha256", daemon=True).start()
    return future


def sha256_of(handle: BinaryIO) -> str:
    """The SHA-256 of a seekable file, read block by block (left at its start)."""
    handle.seek(0)
    digest = hashlib.sha256()
    while block := handle.read(8 * 1024 * 1024):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _timed_chunks(chunks: Iterator[bytes], observer: Observer) -> Iterator[bytes]:
    """`chunks`, the time spent reading each reported as decompression."""
    while True:
        with timed(observer, Phase.DECOMPRESS):
            data = next(chunks, None)
        if data is None:
            return
        yield data
        del data


def parse_chunks(
    item: StreamingObject,
    settings: Settings,
    parser: ChunkParser,
    observer: Observer = NO_OBSERVER,
) -> Iterator[Chunk]:
    """Parse, normalize and validate a streaming object chunk by chunk (source rows numbered
    as in one piece); raises ContractViolation at the end when too many rows were rejected."""
    uri, fmt = item.obj.uri, item.source_format
    csv = item.chunking.framing == "csv"
    offset = rows_in = 0
    rules: dict[str, int] = {}
    first, item.first = item.first, b""
    # Memory follows rows, not bytes: size chunks to METERHOUSE_CHUNK_ROWS (FOCUS:
    # METERHOUSE_FOCUS_CHUNK_ROWS) at the average line length of the first bytes read.
    per_row = len(first) / max(1, first.count(b"\n"))
    rows = settings.focus_chunk_rows if item.chunking.wide else settings.chunk_rows
    chunk_bytes = min(settings.chunk_bytes, max(64 * 1024, int(rows * per_row)))
    chunks = record_chunks(item.stream, first, csv=csv, chunk_bytes=chunk_bytes)
    del first
    for data in _timed_chunks(chunks, observer):
        step = f"parsing {fmt} (rows after {offset})"
        with timed(observer, Phase.PARSE, fmt), parse_failures_fail_the_file(uri, step):
            parsed = parser.parse(data, offset)
        with parse_failures_fail_the_file(uri, f"normalizing {fmt}"):
            if parsed.records is not None:
                with timed(observer, Phase.NORMALIZE, fmt):
                    parsed, read_rejects = parser.normalize(parsed)
            else:
                parsed, read_rejects = parser.normalize(parsed)
        # A CSV row is numbered among data rows, an NDJSON row by its line.
        offset += parsed.rows_in if csv else data.count(b"\n")
        rows_in += parsed.rows_in
        log.info(
            "step=chunk source=%s rows_so_far=%d chunk_rows=%d chunk_bytes=%d",
            uri,
            rows_in,
            parsed.rows_in,
            len(data),
        )
        del data
        chunk = _chunk(uri, fmt, parsed, read_rejects, rules, observer)
        # Only the chunk stays alive while the warehouse loads it.
        del parsed, read_rejects
        yield chunk
        del chunk
    problem = over_threshold(item.obj.uri, rows_in, rules, settings.reject_threshold)
    if problem is not None:
        raise problem


def _chunk(
    uri: str,
    fmt: SourceFormat,
    parsed: ParsedSource,
    read_rejects: pl.DataFrame,
    rules: dict[str, int],
    observer: Observer,
) -> Chunk:
    """A normalized chunk validated and made ready to load; its rejects counted in `rules`."""
    with timed(observer, Phase.VALIDATE, fmt), parse_failures_fail_the_file(uri, "validating"):
        events, contract_rejects = validate_events(parsed.events, uri)
    rejects = pl.concat([read_rejects, parsed.rejects, contract_rejects]).sort(
        "source_row", nulls_last=True
    )
    for rule, count in rejects.group_by("rule").len().iter_rows():
        rules[rule] = rules.get(rule, 0) + count
    with timed(observer, Phase.PREPARE, fmt), parse_failures_fail_the_file(uri, "preparing"):
        prepared = prepare_events(events)
    del events
    # The chunk carries the prepared events alone: their dimension lists are let go.
    return Chunk(
        parsed.rows_in,
        prepared,
        rejects,
        parsed.focus_line_items,
        parsed.focus_findings,
        parsed.focus_amounts,
    )


def typed_load_plan(
    item: StreamingObject, settings: Settings, observer: Observer = NO_OBSERVER
) -> tuple[TypedPlan | FocusPlan, str] | None:
    """For a large Amberflo CSV or NDJSON export or FOCUS CSV export DuckDB reads exactly as
    the chunked reader does, its typing plan and the path DuckDB reads it from
    (etl.formats.amberflo.typed, etl.formats.focus.typed); None when it must stream in chunks
    (gzip, a download without a path, a header or a body the chunked reader must decide)."""
    if not settings.typed_load or item.stream.gzipped or item.spool is None:
        return None
    fmt = item.source_format
    plan: TypedPlan | FocusPlan | None
    if fmt == "focus_csv":
        plan = focus_plan(item.first, settings.focus_customer_from)
    else:
        plan = typed_plan(fmt, item.first)
    path = file_path(item.spool)
    if path is None or plan is None:
        return None
    with (
        timed(observer, Phase.DECOMPRESS),
        parse_failures_fail_the_file(item.obj.uri, "checking the export"),
    ):
        alike = reads_alike(fmt, path, item.obj.uri, settings.max_object_bytes)
    return (plan, path) if alike else None


def typed_stager(
    item: StreamingObject, settings: Settings, observer: Observer = NO_OBSERVER
) -> Stager | None:
    """The stager that types a clean Amberflo export (`typed_load_plan`) in the warehouse in
    one pass: its plain rows in SQL, the others through the reader and normalizer in chunks."""
    if item.typed is None:
        return None
    plan, path = item.typed
    if isinstance(plan, FocusPlan):
        return _focus_stager(item, settings, plan, path, observer)
    uri, fmt = item.obj.uri, item.source_format
    parser = open_chunks(item, settings)
    rules: dict[str, int] = {}

    def leftover(frame: pl.DataFrame) -> Chunk:
        with parse_failures_fail_the_file(uri, f"normalizing {fmt}"):
            with timed(observer, Phase.PARSE, fmt):
                batch = plan.leftover_batch(frame, uri)
            with timed(observer, Phase.NORMALIZE, fmt):
                parsed, read_rejects = parser.normalize(
                    replace(
                        no_rows(fmt),
                        rows_in=batch.rows_in,
                        records=batch.records,
                        rejects=batch.rejects,
                    )
                )
        return _chunk(uri, fmt, parsed, read_rejects, rules, observer)

    def stager(con: Connection, stage: str, now: datetime) -> Staged:
        counts, chunks = stage_typed(
            con,
            stage,
            now,
            plan=plan,
            path=path,
            uri=uri,
            latest_ms=latest_event_ms(item.obj.info().last_modified),
            leftover=leftover,
            batch_rows=settings.chunk_rows,
        )
        log.info("step=typed source=%s plain_rows=%d duplicates=%d", uri, counts[0], counts[2])
        return Staged(counts, _then_threshold(chunks, uri, counts[0], rules, settings))

    return stager


def _focus_stager(
    item: StreamingObject, settings: Settings, plan: FocusPlan, path: str, observer: Observer
) -> Stager:
    """The stager of a clean FOCUS CSV export: its plain rows typed in SQL, the others
    through the FOCUS parser in chunks."""
    uri, fmt = item.obj.uri, item.source_format
    parser = open_chunks(item, settings)
    assert isinstance(parser, FocusChunks)
    rules: dict[str, int] = {}

    def leftover(rows: pl.DataFrame) -> Chunk:
        with (
            timed(observer, Phase.PARSE, fmt),
            parse_failures_fail_the_file(uri, f"parsing {fmt}"),
        ):
            parsed = parser.parse_rows(rows)
        return _chunk(uri, fmt, parsed, parsed.rejects.clear(), rules, observer)

    def stager(con: Connection, stage: str, now: datetime) -> Staged:
        staged = stage_typed_focus(
            con,
            stage,
            now,
            plan=plan,
            path=path,
            uri=uri,
            delivery_key=parser.empty().delivery_key or "",
            customer_from=plan.customer_from,
            leftover=leftover,
            batch_rows=settings.focus_chunk_rows,
        )
        rows = staged.counts[0]
        log.info("step=typed source=%s plain_rows=%d duplicates=0", uri, rows)
        return replace(
            staged, chunks=_then_threshold(iter(staged.chunks), uri, rows, rules, settings)
        )

    return stager


def _then_threshold(
    chunks: Iterator[Chunk], uri: str, rows_in: int, rules: dict[str, int], settings: Settings
) -> Iterator[Chunk]:
    """`chunks`, then ContractViolation when the file's rejects (counted in `rules` as the
    chunks are made) are over the threshold."""
    for chunk in chunks:
        rows_in += chunk.rows_in
        yield chunk
        del chunk
    problem = over_threshold(uri, rows_in, rules, settings.reject_threshold)
    if problem is not None:
        raise problem


def file_path(handle: BinaryIO) -> str | None:
    """A path another reader (DuckDB) can open the file of `handle` by: its name, or for
    an unnamed temporary file, its descriptor's entry in /proc."""
    name = getattr(handle, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return name
    if isinstance(name, int) and os.path.exists(f"/proc/self/fd/{name}"):
        return f"/proc/self/fd/{name}"
    return None


def open_chunks(item: StreamingObject, settings: Settings) -> ChunkParser:
    """The chunk parser of a streaming object's format."""
    return chunk_parser(
        item.source_format, item.obj.uri, item.obj.info().last_modified, parse_options(settings)
    )
