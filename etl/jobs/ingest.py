"""Composes the steps: discover -> read -> parse -> normalize -> validate -> load -> publish.

This is what the Airflow tasks and the CLI call. Each source file is handled on its own: a bad
file is recorded as failed (with an Amberflo-style reason object in the bucket) and never stops
the other files of the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from contracts.meter_event import EVENT_SCHEMA, REJECT_COLUMNS, REJECT_SCHEMA, MeterEvent
from etl.errors import (
    ContractViolation,
    FormatError,
    IngestFailed,
    MeterhouseError,
    RetryableError,
    SourceChanged,
)
from etl.formats.amberflo import parse_amberflo_csv, parse_amberflo_json, parse_amberflo_ndjson
from etl.formats.detect import SourceFormat, sniff_format
from etl.formats.stream import DecompressedStream, read_ahead, record_chunks
from etl.intervals import DateWindow, in_window, ingest_window
from etl.normalize import SOURCE_URI, normalize_meter_records, normalize_sources, with_source
from etl.settings import Settings
from etl.storage import (
    LocalStore,
    ObjectInfo,
    ObjectStore,
    S3Config,
    S3Store,
    open_source,
    sha256_hex,
    split_s3_uri,
)
from etl.warehouse import EMPTY, ERROR, LOADED, Chunk, LoadResult, SourceLoad, Warehouse

log = logging.getLogger("meterhouse.pipeline")


# -- what travels between steps (and through Airflow XCom as plain dicts) ----------------


@dataclass(frozen=True)
class SourceObject:
    """A listed object plus the root of the store it came from (`s3://bucket` or a folder)."""

    root: str
    key: str
    uri: str
    size: int
    etag: str
    last_modified: str  # ISO-8601, UTC

    @classmethod
    def of(cls, root: str, info: ObjectInfo) -> SourceObject:
        return cls(root, info.key, info.uri, info.size, info.etag, info.last_modified.isoformat())

    def info(self) -> ObjectInfo:
        return ObjectInfo(
            self.uri, self.key, self.size, self.etag, datetime.fromisoformat(self.last_modified)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SourceObject:
        return cls(**raw)


@dataclass(frozen=True)
class FileReport:
    """The outcome of one source file."""

    uri: str
    status: str
    source_format: str | None = None
    rows_in: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None
    seconds: float = 0.0
    touched_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchReport:
    """The outcome of a batch of files, plus the event dates it touched."""

    files: list[FileReport]
    touched_dates: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("rows_in", "events_loaded", "duplicates", "rejected")
        out = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        out["files"] = len(self.files)
        out["failed"] = sum(1 for f in self.files if f.status not in (LOADED, EMPTY, "unchanged"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"files": [asdict(f) for f in self.files], "touched_dates": self.touched_dates}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BatchReport:
        return cls(
            [
                FileReport(**{**f, "touched_dates": tuple(f.get("touched_dates", ()))})
                for f in raw["files"]
            ],
            list(raw.get("touched_dates", [])),
        )


@dataclass(frozen=True)
class ParsedSource:
    """A parsed file. Amberflo files arrive as raw `records` (with their file, see
    etl.normalize.with_source) that `normalize_parsed` turns into events for a whole group of
    files at once; FOCUS files arrive normalized."""

    source_format: SourceFormat | None
    rows_in: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    focus_line_items: pl.DataFrame | None = None
    records: pl.DataFrame | None = None


# -- stores -----------------------------------------------------------------------------


def store_for(root: str, s3: S3Config | None = None) -> ObjectStore:
    """The store a SourceObject's `root` names."""
    if root.startswith("s3://"):
        bucket, _ = split_s3_uri(root)
        return S3Store(bucket, s3)
    return LocalStore(Path(root))


def _root_of(store: ObjectStore) -> str:
    if isinstance(store, S3Store):
        return f"s3://{store.bucket}"
    assert isinstance(store, LocalStore)
    return str(store.root)


# -- discover ---------------------------------------------------------------------------


def discover(
    sources: Sequence[str],
    settings: Settings,
    s3: S3Config | None = None,
    *,
    force: bool = False,
    window: DateWindow | None = None,
) -> list[SourceObject]:
    """Objects under `sources` that the ledger has not loaded in their current version.

    New objects, objects whose etag or size changed, and objects whose last attempt hit a
    retryable error are returned; `force` returns everything (reprocessing). With a `window`,
    only undated keys and keys whose date folder overlaps it are considered (etl.intervals).
    """
    listed: list[SourceObject] = []
    for source in sources:
        store, prefix = open_source(source, s3)
        root = _root_of(store)
        listed.extend(SourceObject.of(root, info) for info in store.list(prefix))
    if window is not None and not window.unbounded:
        in_scope = [o for o in listed if in_window(o.key, window)]
        log.info(
            "step=scope window=%s listed=%d in_window=%d",
            window.describe(),
            len(listed),
            len(in_scope),
        )
        listed = in_scope
    if force or not listed:
        return sorted(listed, key=_arrival_order)
    ledger = Warehouse(settings.warehouse_path, settings.lake_path).ledger(o.uri for o in listed)
    pending = []
    for obj in listed:
        entry = ledger.get(obj.uri)
        if (
            entry is None
            or entry.status == ERROR
            or entry.etag != obj.etag
            or entry.size_bytes != obj.size
        ):
            pending.append(obj)
    log.info(
        "step=discover sources=%d listed=%d pending=%d", len(sources), len(listed), len(pending)
    )
    return sorted(pending, key=_arrival_order)


def _arrival_order(obj: SourceObject) -> tuple[str, str]:
    # Oldest first, so a newer FOCUS delivery of a billing period always loads after (and
    # replaces) an older one found in the same run.
    return (obj.last_modified, obj.uri)


def plan_batches(
    objects: Sequence[SourceObject], *, max_files: int, max_bytes: int
) -> list[list[SourceObject]]:
    """Group objects into batches so that thousands of small files become a few tasks."""
    batches: list[list[SourceObject]] = []
    current: list[SourceObject] = []
    size = 0
    for obj in objects:
        if current and (len(current) >= max_files or size + obj.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        batches.append(current)
    return batches


# -- parse + normalize + validate ---------------------------------------------------------


def _amberflo_parser(fmt: SourceFormat) -> Any:
    # Looked up at call time (the benchmark times the parsers by wrapping these names).
    return {
        "amberflo_json": parse_amberflo_json,
        "amberflo_ndjson": parse_amberflo_ndjson,
        "amberflo_csv": parse_amberflo_csv,
    }[fmt]


def parse_source(raw: bytes, uri: str, written_at: datetime, settings: Settings) -> ParsedSource:
    """Decompressed bytes of one object -> canonical events and rejects (format by content)."""
    fmt = sniff_format(raw, uri)
    if fmt is None:
        return ParsedSource(
            None, 0, pl.DataFrame(schema=EVENT_SCHEMA), pl.DataFrame(schema=REJECT_SCHEMA)
        )
    if fmt in ("focus_csv", "focus_parquet"):
        return _parse_focus(raw, uri, fmt, settings)
    batch = _amberflo_parser(fmt)(raw, uri)
    return ParsedSource(
        fmt,
        batch.rows_in,
        pl.DataFrame(schema=EVENT_SCHEMA),
        batch.rejects,
        records=with_source(batch.records, uri, fmt, written_at),
    )


def _parse_focus(
    raw: bytes, uri: str, fmt: SourceFormat, settings: Settings, seen: Any = None
) -> ParsedSource:
    from etl.formats.focus import parse_focus

    result = parse_focus(
        raw,
        uri,
        kind="csv" if fmt == "focus_csv" else "parquet",
        customer_from=settings.focus_customer_from,
        seen=seen,
    )
    for note in result.normalizations:
        log.info(
            "step=normalize source=%s focus_version=%s note=%s", uri, result.focus_version, note
        )
    for warning in result.warnings:
        log.warning(
            "step=validate source=%s focus_version=%s warning=%s",
            uri,
            result.focus_version,
            warning,
        )
    return ParsedSource(fmt, result.rows_in, result.events, result.rejects, result.line_items)


def normalize_parsed(parsed: Sequence[ParsedSource]) -> list[ParsedSource]:
    """Normalize the raw records of many parsed files in one vectorized pass; each file gets
    its events and its rejects (read rejects first, in row order)."""
    raw = [p.records for p in parsed if p.records is not None]
    if not raw:
        return list(parsed)
    normalized = normalize_sources(pl.concat(raw) if len(raw) > 1 else raw[0])
    events = normalized.events.partition_by("source_uri", as_dict=True)
    rejects = normalized.rejects.partition_by("source_uri", as_dict=True)
    out = []
    for p in parsed:
        if p.records is None or not p.records.height:
            out.append(replace(p, records=None))
            continue
        uri = (p.records.get_column(SOURCE_URI)[0],)
        mine = pl.concat([p.rejects, rejects.get(uri, normalized.rejects.clear())])
        out.append(
            replace(
                p,
                events=events.get(uri, normalized.events.clear()),
                rejects=mine.sort("source_row", nulls_last=True),
                records=None,
            )
        )
    return out


def validate_events(events: pl.DataFrame, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run the MeterEvent contract; rows that fail a check move to rejects with the check's name."""
    import pandera.errors as pa_errors

    try:
        return MeterEvent.validate(events, lazy=True), pl.DataFrame(schema=REJECT_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise ContractViolation(f"{uri}: events do not have the MeterEvent columns: {exc}") from exc
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if cases.filter(pl.col("index").is_null()).height:
            raise ContractViolation(f"{uri}: events break the MeterEvent schema: {exc}") from exc
        bad = cases.select(
            pl.col("index").cast(pl.Int64), "column", "check", pl.col("failure_case").cast(pl.Utf8)
        ).unique(subset=["index"], keep="first", maintain_order=True)
        indexed = events.with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
        failed = indexed.join(bad, left_on="_i", right_on="index", how="inner")
        rejects = (
            failed.select(
                pl.col("source_uri"),
                pl.col("source_row"),
                pl.col("column").alias("column_name"),
                (
                    pl.lit("contract.MeterEvent.")
                    + pl.col("column")
                    + pl.lit(".")
                    + pl.col("check")
                ).alias("rule"),
                (
                    pl.col("column")
                    + pl.lit(" value ")
                    + pl.col("failure_case").str.slice(0, 80)
                    + pl.lit(" fails ")
                    + pl.col("check")
                ).alias("reason"),
                pl.lit(None, dtype=pl.Utf8).alias("raw_record"),
            )
            .cast(REJECT_SCHEMA)
            .select(REJECT_COLUMNS)
        )
        good = indexed.join(bad, left_on="_i", right_on="index", how="anti").drop("_i")
        return MeterEvent.validate(good), rejects


# -- ingest -----------------------------------------------------------------------------


def _reason_key(key: str, written_at: datetime) -> str:
    # Object keys are data: never let `..` or a leading `/` shape where the report lands.
    safe = "/".join(p if p not in ("", ".", "..") else "_" for p in key.split("/"))
    return f"failed-requests/{written_at.date().isoformat()}/{safe}.reason.txt"


@dataclass(frozen=True)
class _Parsed:
    """One object read and parsed, not yet validated or loaded."""

    obj: SourceObject
    checksum: str
    parsed: ParsedSource
    started: float


@dataclass
class _Streaming:
    """A CSV/NDJSON object larger than one chunk: read on demand, loaded chunk by chunk."""

    obj: SourceObject
    checksum: str
    source_format: SourceFormat
    stream: DecompressedStream
    first: bytes
    started: float
    spool: BinaryIO | None

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def _read_and_parse(
    store: ObjectStore, obj: SourceObject, settings: Settings
) -> _Parsed | _Streaming:
    """Read an object and parse it whole, or, for a CSV/NDJSON export larger than
    METERHOUSE_CHUNK_BYTES once decompressed (FOCUS CSV: or of more rows than
    METERHOUSE_FOCUS_CHUNK_ROWS), open it for loading chunk by chunk.

    Objects over the chunk size are downloaded to a spool file first (never into memory).
    """
    started = time.monotonic()
    info = obj.info()
    spool: BinaryIO | None = None
    raw: BinaryIO
    if obj.size <= settings.chunk_bytes:
        data = store.read(info)
        checksum = sha256_hex(data)
        raw = io.BytesIO(data)
    else:
        # A local file is read in place; an object is downloaded to a spool file first.
        spool = (
            store.open(info)
            if isinstance(store, LocalStore)
            else tempfile.TemporaryFile(dir=settings.spool_dir)  # noqa: SIM115 - closed by the loader
        )
        try:
            if not isinstance(store, LocalStore):
                store.read_into(info, spool)
            checksum = _sha256_of(spool)
        except BaseException:
            spool.close()
            raise
        raw = spool
    try:
        stream = DecompressedStream(raw, obj.uri, settings.max_object_bytes)
        first = stream.read_upto(settings.chunk_bytes)
        more = stream.read_upto(1)
        # FOCUS rows are wide: an export of more rows than METERHOUSE_FOCUS_CHUNK_ROWS
        # streams even when it is under the chunk size.
        many = not more and first.count(b"\n") > settings.focus_chunk_rows
        fmt = sniff_format(first, obj.uri) if more or many else None
        if (more and fmt in ("amberflo_csv", "amberflo_ndjson", "focus_csv")) or (
            many and fmt == "focus_csv"
        ):
            assert fmt is not None
            return _Streaming(obj, checksum, fmt, stream, first + more, started, spool)
        whole = (
            first + more + _read_whole_rest(stream, len(first) + 1, fmt, settings)
            if more
            else first
        )
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.close()
    return _Parsed(
        obj, checksum, parse_source(whole, obj.uri, info.last_modified, settings), started
    )


def _read_whole_rest(
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


def _sha256_of(handle: BinaryIO) -> str:
    handle.seek(0)
    digest = hashlib.sha256()
    while block := handle.read(8 * 1024 * 1024):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _parse_chunk(
    data: bytes, item: _Streaming, offset: int, settings: Settings, seen: Any
) -> tuple[ParsedSource, pl.DataFrame]:
    """One chunk parsed and normalized, rows numbered from `offset`; also the read rejects."""
    uri, fmt = item.obj.uri, item.source_format
    shift = pl.col("source_row") + offset
    if fmt == "focus_csv":
        focus = _parse_focus(data, uri, fmt, settings, seen)
        assert focus.focus_line_items is not None
        parsed = replace(
            focus,
            events=focus.events.with_columns(shift),
            rejects=focus.rejects.with_columns(shift),
            focus_line_items=focus.focus_line_items.with_columns(shift),
        )
        return parsed, parsed.rejects.clear()
    batch = _amberflo_parser(fmt)(data, uri)
    normalized = normalize_meter_records(
        batch.records.with_columns(shift),
        source_uri=uri,
        source_format=fmt,
        written_at=item.obj.info().last_modified,
    )
    parsed = ParsedSource(fmt, batch.rows_in, normalized.events, normalized.rejects)
    return parsed, batch.rejects.with_columns(shift)


def _parse_chunks(item: _Streaming, settings: Settings) -> Iterator[Chunk]:
    """Parse, normalize and validate a streaming object chunk by chunk (source rows numbered
    as in one piece); raises ContractViolation at the end when too many rows were rejected."""
    uri = item.obj.uri
    csv = item.source_format != "amberflo_ndjson"
    offset = rows_in = 0
    rules: dict[str, int] = {}
    first, item.first = item.first, b""
    # Memory follows rows, not bytes: size chunks to METERHOUSE_CHUNK_ROWS (FOCUS:
    # METERHOUSE_FOCUS_CHUNK_ROWS) at the average line length of the first bytes read.
    per_row = len(first) / max(1, first.count(b"\n"))
    rows = settings.focus_chunk_rows if item.source_format == "focus_csv" else settings.chunk_rows
    chunk_bytes = min(settings.chunk_bytes, max(64 * 1024, int(rows * per_row)))
    chunks = record_chunks(item.stream, first, csv=csv, chunk_bytes=chunk_bytes)
    del first
    seen = None
    if item.source_format == "focus_csv":
        from etl.formats.focus import RowKeyCounts

        seen = RowKeyCounts()
    for data in chunks:
        parsed, read_rejects = _parse_chunk(data, item, offset, settings, seen)
        # A CSV row is numbered among data rows, an NDJSON row by its line.
        offset += parsed.rows_in if csv else data.count(b"\n")
        events, contract_rejects = validate_events(parsed.events, uri)
        rejects = pl.concat([read_rejects, parsed.rejects, contract_rejects]).sort(
            "source_row", nulls_last=True
        )
        for rule, count in rejects.group_by("rule").len().iter_rows():
            rules[rule] = rules.get(rule, 0) + count
        rows_in += parsed.rows_in
        log.info(
            "step=chunk source=%s rows_so_far=%d chunk_rows=%d chunk_bytes=%d",
            uri,
            rows_in,
            parsed.rows_in,
            len(data),
        )
        chunk = Chunk(parsed.rows_in, events, rejects, parsed.focus_line_items)
        # Only the chunk stays alive while the warehouse loads it.
        del data, parsed, read_rejects, events, contract_rejects, rejects
        yield chunk
        del chunk
    problem = _over_threshold(item.obj, rows_in, rules, settings)
    if problem is not None:
        raise problem


def _over_threshold(
    obj: SourceObject, rows_in: int, rules: dict[str, int], settings: Settings
) -> ContractViolation | None:
    """A file fails when more than METERHOUSE_REJECT_THRESHOLD of its rows are rejected
    (`rules`: rejected rows per rule)."""
    rejected = sum(rules.values())
    if not rows_in or rejected / rows_in <= settings.reject_threshold:
        return None
    top = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasons = "; ".join(f"{rule} x{count}" for rule, count in top)
    return ContractViolation(
        f"{obj.uri}: {rejected} of {rows_in} rows rejected "
        f"({rejected / rows_in:.0%}), over the reject threshold of "
        f"{settings.reject_threshold:.0%} (METERHOUSE_REJECT_THRESHOLD); most common: {reasons}. "
        "Fix the export and upload it again"
    )


def _source_load(
    obj: SourceObject,
    checksum: str,
    parsed: ParsedSource,
    events: pl.DataFrame,
    rejects: pl.DataFrame,
    settings: Settings,
) -> SourceLoad:
    return SourceLoad(
        source_uri=obj.uri,
        source_key=obj.key,
        etag=obj.etag,
        size_bytes=obj.size,
        checksum_sha256=checksum,
        last_modified=obj.info().last_modified,
        source_format=parsed.source_format,
        rows_in=parsed.rows_in,
        events=events,
        rejects=rejects,
        focus_line_items=parsed.focus_line_items,
        delivery_key=_delivery_key(obj.uri) if parsed.focus_line_items is not None else None,
        delivery_window_s=settings.focus_delivery_window_s,
    )


def _loaded_report(fmt: str | None, started: float, result: LoadResult) -> FileReport:
    log.info(
        "step=ingest source=%s format=%s rows_in=%d loaded=%d duplicates=%d rejected=%d",
        result.source_uri,
        fmt,
        result.rows_in,
        result.events_loaded,
        result.duplicates,
        result.rejected,
    )
    return FileReport(
        result.source_uri,
        result.status,
        fmt,
        result.rows_in,
        result.events_loaded,
        result.duplicates,
        result.rejected,
        seconds=round(time.monotonic() - started, 3),
        touched_dates=tuple(sorted(d.isoformat() for d in result.touched_dates)),
    )


def _failed_report(
    warehouse: Warehouse,
    store: ObjectStore,
    obj: SourceObject,
    exc: MeterhouseError,
    *,
    checksum: str | None,
    fmt: str | None,
    started: float,
) -> FileReport:
    """Record a file's failure in the ledger (and the bucket); never raises for bad data."""
    retryable = isinstance(exc, RetryableError) and not isinstance(exc, SourceChanged)
    message = str(exc) if obj.uri in str(exc) else f"{obj.uri}: {exc}"
    log.warning(
        "step=ingest source=%s status=failed retryable=%s error=%s", obj.uri, retryable, message
    )
    if _is_lock(exc):
        raise exc
    written_at = obj.info().last_modified
    touched = warehouse.record_failure(
        source_uri=obj.uri,
        source_key=obj.key,
        etag=obj.etag,
        size_bytes=obj.size,
        last_modified=written_at,
        checksum_sha256=checksum,
        source_format=fmt,
        error=message,
        retryable=retryable,
    )
    if not isinstance(exc, SourceChanged):
        _write_reason(store, obj, written_at, message)
    return FileReport(
        obj.uri,
        "error" if retryable else "failed",
        fmt,
        error=message,
        seconds=round(time.monotonic() - started, 3),
        touched_dates=tuple(sorted(d.isoformat() for d in touched)),
    )


def _fail_item(
    warehouse: Warehouse, stores: dict[str, ObjectStore], item: _Parsed, exc: MeterhouseError
) -> FileReport:
    return _failed_report(
        warehouse,
        stores[item.obj.root],
        item.obj,
        exc,
        checksum=item.checksum,
        fmt=item.parsed.source_format,
        started=item.started,
    )


def _is_lock(exc: MeterhouseError) -> bool:
    return isinstance(exc, RetryableError) and "locked" in str(exc)


def _load_group(
    warehouse: Warehouse,
    stores: dict[str, ObjectStore],
    group: Sequence[_Parsed],
    settings: Settings,
) -> list[FileReport]:
    """Validate a group of parsed files once, then load them in one transaction.

    Files over the reject threshold fail on their own. If the group's validation or
    transaction fails, each file is loaded on its own, so one bad file never takes the others
    down with it.
    """
    group = [
        replace(item, parsed=parsed)
        for item, parsed in zip(group, normalize_parsed([i.parsed for i in group]), strict=True)
    ]
    if len(group) > 1:
        try:
            good_all, bad_all = validate_events(
                pl.concat([i.parsed.events for i in group]), "group"
            )
        except MeterhouseError:
            return [r for item in group for r in _load_group(warehouse, stores, [item], settings)]
        good_by_uri = good_all.partition_by("source_uri", as_dict=True)
        bad_by_uri = bad_all.partition_by("source_uri", as_dict=True)
        split = [
            (
                good_by_uri.get((i.obj.uri,), good_all.clear()),
                bad_by_uri.get((i.obj.uri,), bad_all.clear()),
            )
            for i in group
        ]
    else:
        try:
            split = [validate_events(group[0].parsed.events, group[0].obj.uri)]
        except MeterhouseError as exc:
            return [_fail_item(warehouse, stores, group[0], exc)]
    reports: list[FileReport] = []
    loads: list[tuple[_Parsed, SourceLoad]] = []
    for item, (events, contract_rejects) in zip(group, split, strict=True):
        rejects = pl.concat([item.parsed.rejects, contract_rejects])
        rules = dict(rejects.group_by("rule").len().iter_rows())
        problem = _over_threshold(item.obj, item.parsed.rows_in, rules, settings)
        if problem is not None:
            reports.append(_fail_item(warehouse, stores, item, problem))
        else:
            load = _source_load(item.obj, item.checksum, item.parsed, events, rejects, settings)
            loads.append((item, load))
    if not loads:
        return reports
    try:
        results = warehouse.replace_sources_rows([load for _, load in loads])
    except MeterhouseError as exc:
        if len(loads) > 1 and not _is_lock(exc):
            log.warning("step=load group_files=%d error=%s; loading one by one", len(loads), exc)
            return reports + [
                r for item, _ in loads for r in _load_group(warehouse, stores, [item], settings)
            ]
        return reports + [_fail_item(warehouse, stores, loads[0][0], exc)]
    reports.extend(
        _loaded_report(item.parsed.source_format, item.started, result)
        for (item, _), result in zip(loads, results, strict=True)
    )
    return reports


def _load_streaming(
    warehouse: Warehouse, store: ObjectStore, item: _Streaming, settings: Settings
) -> FileReport:
    """Load a large CSV/NDJSON/FOCUS CSV object chunk by chunk (bounded memory)."""
    obj = item.obj
    nothing = ParsedSource(
        item.source_format,
        0,
        pl.DataFrame(schema=EVENT_SCHEMA),
        pl.DataFrame(schema=REJECT_SCHEMA),
        _no_line_items() if item.source_format == "focus_csv" else None,
    )
    meta = _source_load(obj, item.checksum, nothing, nothing.events, nothing.rejects, settings)
    try:
        # The next chunk is parsed while the warehouse loads this one; closed (its thread
        # joined) before the stream under it is.
        with contextlib.closing(read_ahead(_parse_chunks(item, settings))) as chunks:
            result = warehouse.replace_source_chunks(meta, chunks)
    except MeterhouseError as exc:
        return _failed_report(
            warehouse,
            store,
            obj,
            exc,
            checksum=item.checksum,
            fmt=item.source_format,
            started=item.started,
        )
    finally:
        item.close()
    return _loaded_report(item.source_format, item.started, result)


def _no_line_items() -> pl.DataFrame:
    from contracts.focus import FOCUS_LINE_ITEM_SCHEMA

    return pl.DataFrame(schema=FOCUS_LINE_ITEM_SCHEMA)


def _delivery_key(uri: str) -> str:
    from etl.formats.focus import focus_delivery_key

    return focus_delivery_key(uri)


def _write_reason(
    store: ObjectStore, obj: SourceObject, written_at: datetime, message: str
) -> None:
    try:
        store.write(_reason_key(obj.key, written_at), (message + "\n").encode())
    except (
        Exception
    ) as exc:  # the ledger already holds the reason; a read-only bucket must not fail the run
        log.warning("step=reason source=%s could not write reason object: %s", obj.uri, exc)


def ingest_batch(
    objects: Sequence[SourceObject], settings: Settings, s3: S3Config | None = None
) -> BatchReport:
    """Load a batch of objects, then publish the lake partitions they touched.

    Small files are validated and committed in groups (up to `group_rows` events or
    `group_files` files per transaction); each file stays all-or-nothing. FOCUS files, which
    replace billing periods, load on their own.
    """
    warehouse = Warehouse(
        settings.warehouse_path,
        settings.lake_path,
        dedup_window_days=settings.dedup_window_days,
        memory_limit=settings.duckdb_memory_limit,
    )
    stores: dict[str, ObjectStore] = {}
    reports: list[FileReport] = []
    pending: list[_Parsed] = []
    pending_rows = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            reports.extend(_load_group(warehouse, stores, pending, settings))
        pending, pending_rows = [], 0

    with warehouse.writer():
        for obj in objects:
            store = stores.setdefault(obj.root, store_for(obj.root, s3))
            started = time.monotonic()
            try:
                item = _read_and_parse(store, obj, settings)
            except MeterhouseError as exc:
                reports.append(
                    _failed_report(
                        warehouse, store, obj, exc, checksum=None, fmt=None, started=started
                    )
                )
                continue
            if isinstance(item, _Streaming):
                flush()
                reports.append(_load_streaming(warehouse, store, item, settings))
                continue
            if item.parsed.focus_line_items is not None:
                flush()
                reports.extend(_load_group(warehouse, stores, [item], settings))
                continue
            pending.append(item)
            pending_rows += item.parsed.rows_in
            if pending_rows >= settings.group_rows or len(pending) >= settings.group_files:
                flush()
        flush()
        touched = {date.fromisoformat(d) for r in reports for d in r.touched_dates}
        # The lake follows the warehouse: every partition this batch's loads marked pending
        # (in their own transactions) gets its new rows, or is rewritten if it lost some.
        warehouse.publish_lake()
    return BatchReport(reports, sorted(d.isoformat() for d in touched))


def ingest(
    sources: Sequence[str], settings: Settings, s3: S3Config | None = None, *, force: bool = False
) -> BatchReport:
    """Discover and load everything new under `sources` (the CLI path; Airflow maps batches)."""
    pending = discover(sources, settings, s3, force=force)
    files: list[FileReport] = []
    dates: set[str] = set()
    batches = plan_batches(pending, max_files=settings.batch_files, max_bytes=settings.batch_bytes)
    for batch in batches:
        report = ingest_batch(batch, settings, s3)
        files.extend(report.files)
        dates.update(report.touched_dates)
    if not batches:
        publish_pending(settings)
    return BatchReport(files, sorted(dates))


def publish_pending(settings: Settings) -> None:
    """Finish any lake publish a crashed run left undone (cheap when there is none)."""
    if settings.warehouse_path.exists():
        warehouse = Warehouse(settings.warehouse_path, settings.lake_path)
        with warehouse.writer():
            warehouse.publish_lake()


# -- entry points for orchestrators (plain dicts in and out, so they travel through XCom) ---


def plan_ingest(
    sources: Sequence[str],
    *,
    s3: S3Config | None = None,
    force: bool = False,
    settings: Settings | None = None,
    window: DateWindow | None = None,
    dry_run: bool = False,
) -> list[list[dict[str, Any]]]:
    """Discover pending objects (in `window`, if given) and group them into batches of dicts."""
    settings = settings or Settings.from_env()
    pending = discover(sources, settings, s3, force=force, window=window)
    batches = plan_batches(pending, max_files=settings.batch_files, max_bytes=settings.batch_bytes)
    log.info("step=plan objects=%d batches=%d", len(pending), len(batches))
    if dry_run:
        for obj in pending:
            log.info("step=plan dry_run=true would_load=%s size=%d", obj.uri, obj.size)
    return [[o.to_dict() for o in batch] for batch in batches]


def plan_run(
    sources: Sequence[str],
    *,
    run_type: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    start_date: str | None = None,
    end_date: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    s3: S3Config | None = None,
    settings: Settings | None = None,
) -> list[list[dict[str, Any]]]:
    """What one orchestrated run loads: its window (etl.intervals.ingest_window), then batches.

    `run_type` is the orchestrator's (`scheduled`, `backfill`, `manual`, ...); a date range
    from the trigger form wins over the data interval. METERHOUSE_LATE_DAYS sets how far back
    a scheduled run looks for late exports (`all`: no limit).
    """
    settings = settings or Settings.from_env()
    window = ingest_window(
        run_type,
        interval_start,
        interval_end,
        start_date=start_date,
        end_date=end_date,
        late_days=settings.late_days,
    )
    log.info(
        "step=plan run_type=%s window=%s force=%s dry_run=%s",
        run_type,
        window.describe(),
        force,
        dry_run,
    )
    return plan_ingest(
        sources, s3=s3, force=force, settings=settings, window=window, dry_run=dry_run
    )


def ingest_batch_dicts(
    batch: Sequence[dict[str, Any]],
    *,
    s3: S3Config | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Load one planned batch (or, on a dry run, only list it); returns the batch report as a dict."""
    settings = settings or Settings.from_env()
    objects = [SourceObject.from_dict(d) for d in batch]
    if dry_run:
        for obj in objects:
            log.info("step=dry_run would_load=%s size=%d", obj.uri, obj.size)
        return BatchReport([FileReport(o.uri, "dry_run") for o in objects]).to_dict()
    return ingest_batch(objects, settings, s3).to_dict()


def summarize_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals of a run's batch reports, with every failed file and its reason."""
    merged = BatchReport(
        [f for r in reports for f in BatchReport.from_dict(r).files],
        sorted({d for r in reports for d in r.get("touched_dates", [])}),
    )
    totals = merged.totals()
    log.info(
        "step=summary files=%d failed=%d rows_in=%d loaded=%d duplicates=%d rejected=%d dates=%d",
        totals["files"],
        totals["failed"],
        totals["rows_in"],
        totals["events_loaded"],
        totals["duplicates"],
        totals["rejected"],
        len(merged.touched_dates),
    )
    failed = [
        {"uri": f.uri, "status": f.status, "error": f.error}
        for f in merged.files
        if f.status in ("failed", "error")
    ]
    for f in failed:
        log.error("step=summary source=%s status=%s error=%s", f["uri"], f["status"], f["error"])
    return {**totals, "touched_dates": merged.touched_dates, "failed_files": failed}


def raise_for_failures(summary: dict[str, Any]) -> None:
    """Fail loudly, naming each failed file and why, once the good files are loaded."""
    failed = summary.get("failed_files") or []
    if failed:
        lines = "\n".join(f"  {f['error']}" for f in failed)
        raise IngestFailed(
            f"{len(failed)} of {summary['files']} files failed; the others loaded:\n{lines}"
        )
