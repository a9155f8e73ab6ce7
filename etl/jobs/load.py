"""Loading parsed objects into the warehouse: groups of small files in one transaction, large
files chunk by chunk, and every failure recorded (ledger, reason object) without stopping the rest.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

import polars as pl

from contracts.status import SourceStatus
from etl.errors import MeterhouseError, RetryableError, SourceChanged
from etl.formats.base import ParsedSource
from etl.formats.registry import normalize_parsed
from etl.jobs.observer import NO_OBSERVER, NoObserver, Observer, Phase, timed
from etl.jobs.read import (
    ParsedObject,
    StreamingObject,
    open_chunks,
    parse_chunks,
    parse_failures_fail_the_file,
    typed_stager,
)
from etl.jobs.reports import FileReport
from etl.settings import Settings
from etl.sources.discovery import SourceObject
from etl.sources.stores import ObjectStore
from etl.sources.streams import read_ahead
from etl.validate import over_threshold, validate_events
from etl.warehouse import Chunk, LoadResult, SourceLoad, TypedReadRefused, Warehouse
from etl.warehouse.load import Stager

# The ingest's logger: operators filter on it.
log = logging.getLogger("meterhouse.pipeline")


def reason_key(key: str, written_at: datetime) -> str:
    """Where the reason object of a failed source `key` lands in its bucket:
    `failed-requests/<date written>/<key>.reason.txt`, the key's `..` and empty parts replaced."""
    # Object keys are data: never let `..` or a leading `/` shape where the report lands.
    safe = "/".join(p if p not in ("", ".", "..") else "_" for p in key.split("/"))
    return f"failed-requests/{written_at.date().isoformat()}/{safe}.reason.txt"


def is_lock(exc: MeterhouseError) -> bool:
    """True for the warehouse's writer lock being held (the whole batch must be retried)."""
    return isinstance(exc, RetryableError) and "locked" in str(exc)


def source_load(
    obj: SourceObject,
    checksum: str,
    parsed: ParsedSource,
    events: pl.DataFrame,
    rejects: pl.DataFrame,
    settings: Settings,
) -> SourceLoad:
    """What the warehouse loads for one object."""
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
        delivery_key=parsed.delivery_key,
        delivery_window_s=settings.focus_delivery_window_s,
        focus_findings=parsed.focus_findings,
        focus_amounts=parsed.focus_amounts,
    )


def loaded_report(fmt: str | None, started: float, result: LoadResult) -> FileReport:
    """The report of a loaded file."""
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
        findings=dict(result.findings),
    )


def failed_report(
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
    if is_lock(exc):
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
        SourceStatus.ERROR.value if retryable else SourceStatus.FAILED.value,
        fmt,
        error=message,
        seconds=round(time.monotonic() - started, 3),
        touched_dates=tuple(sorted(d.isoformat() for d in touched)),
    )


def _write_reason(
    store: ObjectStore, obj: SourceObject, written_at: datetime, message: str
) -> None:
    try:
        store.write(reason_key(obj.key, written_at), (message + "\n").encode())
    except (
        Exception
    ) as exc:  # the ledger already holds the reason; a read-only bucket must not fail the run
        log.warning("step=reason source=%s could not write reason object: %s", obj.uri, exc)


def _fail_item(
    warehouse: Warehouse, stores: dict[str, ObjectStore], item: ParsedObject, exc: MeterhouseError
) -> FileReport:
    return failed_report(
        warehouse,
        stores[item.obj.root],
        item.obj,
        exc,
        checksum=item.checksum,
        fmt=item.parsed.source_format,
        started=item.started,
    )


def load_group(
    warehouse: Warehouse,
    stores: dict[str, ObjectStore],
    group: Sequence[ParsedObject],
    settings: Settings,
    observer: Observer = NO_OBSERVER,
) -> list[FileReport]:
    """Validate a group of parsed files once, then load them in one transaction.

    Files over the reject threshold fail on their own. If the group's validation or
    transaction fails, each file is loaded on its own, so one bad file never takes the others
    down with it.
    """
    parsed = [i.parsed for i in group]
    if any(p.records is not None for p in parsed):
        uri = group[0].obj.uri if len(group) == 1 else f"a group of {len(group)} files"
        try:
            with (
                timed(observer, Phase.NORMALIZE, parsed[0].source_format),
                parse_failures_fail_the_file(uri, "normalizing"),
            ):
                parsed = normalize_parsed(parsed)
        except MeterhouseError as exc:
            if len(group) == 1:
                return [_fail_item(warehouse, stores, group[0], exc)]
            # One file's records broke the group's pass: each file on its own finds which.
            return [
                r
                for item in group
                for r in load_group(warehouse, stores, [item], settings, observer)
            ]
    group = [replace(item, parsed=p) for item, p in zip(group, parsed, strict=True)]
    fmt = group[0].parsed.source_format
    if len(group) > 1:
        try:
            with (
                timed(observer, Phase.VALIDATE, fmt),
                parse_failures_fail_the_file("group", "validating"),
            ):
                good_all, bad_all = validate_events(
                    pl.concat([i.parsed.events for i in group]), "group"
                )
        except MeterhouseError:
            return [
                r
                for item in group
                for r in load_group(warehouse, stores, [item], settings, observer)
            ]
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
            with (
                timed(observer, Phase.VALIDATE, fmt),
                parse_failures_fail_the_file(group[0].obj.uri, "validating"),
            ):
                split = [validate_events(group[0].parsed.events, group[0].obj.uri)]
        except MeterhouseError as exc:
            return [_fail_item(warehouse, stores, group[0], exc)]
    reports: list[FileReport] = []
    loads: list[tuple[ParsedObject, SourceLoad]] = []
    for item, (events, contract_rejects) in zip(group, split, strict=True):
        rejects = pl.concat([item.parsed.rejects, contract_rejects])
        rules = dict(rejects.group_by("rule").len().iter_rows())
        problem = over_threshold(
            item.obj.uri, item.parsed.rows_in, rules, settings.reject_threshold
        )
        if problem is not None:
            reports.append(_fail_item(warehouse, stores, item, problem))
        else:
            load = source_load(item.obj, item.checksum, item.parsed, events, rejects, settings)
            loads.append((item, load))
    return reports + _commit_group(
        warehouse,
        stores,
        loads,
        lambda: warehouse.replace_sources_rows([load for _, load in loads]),
        lambda item: load_group(warehouse, stores, [item], settings, observer),
        timed(observer, Phase.LOAD, fmt),
    )


def load_prometheus_group(
    warehouse: Warehouse,
    stores: dict[str, ObjectStore],
    group: Sequence[ParsedObject],
    settings: Settings,
    observer: Observer = NO_OBSERVER,
) -> list[FileReport]:
    """Load landed remote-write objects in one transaction (each keeps its ledger row); if the
    group fails, each object is loaded on its own so that one bad object fails alone."""
    reports: list[FileReport] = []
    loads: list[tuple[ParsedObject, SourceLoad]] = []
    for item in group:
        parsed = item.parsed
        assert parsed.prometheus is not None
        rejected = parsed.prometheus.rejected
        rules = {"prometheus samples": rejected} if rejected else {}
        problem = over_threshold(item.obj.uri, parsed.rows_in, rules, settings.reject_threshold)
        if problem is not None:
            reports.append(_fail_item(warehouse, stores, item, problem))
            continue
        load = source_load(item.obj, item.checksum, parsed, parsed.events, parsed.rejects, settings)
        loads.append((item, load))
    return reports + _commit_group(
        warehouse,
        stores,
        loads,
        lambda: warehouse.load_prometheus_group(
            [(load, item.parsed.prometheus) for item, load in loads if item.parsed.prometheus]
        ),
        lambda item: load_prometheus_group(warehouse, stores, [item], settings, observer),
        timed(observer, Phase.LOAD, "prometheus"),
    )


def _commit_group(
    warehouse: Warehouse,
    stores: dict[str, ObjectStore],
    loads: Sequence[tuple[ParsedObject, SourceLoad]],
    commit: Callable[[], Sequence[LoadResult]],
    one_by_one: Callable[[ParsedObject], list[FileReport]],
    timer: contextlib.AbstractContextManager[object],
) -> list[FileReport]:
    """Commit a group's loads in one transaction and report each file; if the group fails
    (not on the writer lock), each file is loaded again on its own (`one_by_one`) so that one
    bad file fails alone."""
    if not loads:
        return []
    try:
        with timer:
            results = commit()
    except MeterhouseError as exc:
        if len(loads) > 1 and not is_lock(exc):
            log.warning("step=load group_files=%d error=%s; loading one by one", len(loads), exc)
            return [r for item, _ in loads for r in one_by_one(item)]
        return [_fail_item(warehouse, stores, loads[0][0], exc)]
    return [
        loaded_report(item.parsed.source_format, item.started, result)
        for (item, _), result in zip(loads, results, strict=True)
    ]


def load_streaming(
    warehouse: Warehouse,
    store: ObjectStore,
    item: StreamingObject,
    settings: Settings,
    observer: Observer = NO_OBSERVER,
) -> FileReport:
    """Load a large CSV/NDJSON/FOCUS CSV object chunk by chunk (bounded memory)."""
    obj = item.obj
    parser = open_chunks(item, settings)
    nothing = parser.empty()
    meta = source_load(obj, item.checksum, nothing, nothing.events, nothing.rejects, settings)
    try:
        try:
            stager = typed_stager(item, settings, observer)
            if stager is not None:
                result = _load_chunks(warehouse, meta, iter(()), observer, stager)
                return loaded_report(item.source_format, item.started, result)
        except TypedReadRefused as refused:
            log.info("step=typed source=%s refused=%s; loading in chunks", obj.uri, refused)
        # The next chunk is parsed while the warehouse loads this one; closed (its thread
        # joined) before the stream under it is.
        with contextlib.closing(
            read_ahead(parse_chunks(item, settings, parser, observer))
        ) as chunks:
            result = _load_chunks(warehouse, meta, chunks, observer)
    except MeterhouseError as exc:
        return failed_report(
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
    return loaded_report(item.source_format, item.started, result)


def _load_chunks(
    warehouse: Warehouse,
    meta: SourceLoad,
    chunks: Iterator[Chunk],
    observer: Observer,
    stager: Stager | None = None,
) -> LoadResult:
    """`Warehouse.replace_source_chunks`, reported as load time less the time it waited for
    the next chunk (parsing, which the read-ahead thread reports on its own)."""
    if isinstance(observer, NoObserver):
        return warehouse.replace_source_chunks(meta, chunks, stager)
    waited = [0.0]
    started = time.perf_counter()
    try:
        return warehouse.replace_source_chunks(meta, _waiting(chunks, waited), stager)
    finally:
        seconds = time.perf_counter() - started - waited[0]
        observer.on_phase(Phase.LOAD, seconds, meta.source_format)


def _waiting(chunks: Iterable[Chunk], waited: list[float]) -> Iterator[Chunk]:
    it = iter(chunks)
    while True:
        started = time.perf_counter()
        try:
            chunk = next(it)
        except StopIteration:
            return
        finally:
            waited[0] += time.perf_counter() - started
        yield chunk
        del chunk
