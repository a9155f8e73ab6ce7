"""The ingest job: discover -> read -> parse -> normalize -> validate -> load -> publish.

This is what the Airflow tasks and the CLI call. Each source file is handled on its own: a bad
file is recorded as failed (with an Amberflo-style reason object in the bucket) and never stops
the other files of the batch.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from etl.errors import MeterhouseError
from etl.jobs.load import failed_report, load_group, load_prometheus_group, load_streaming
from etl.jobs.observer import NO_OBSERVER, Observer, Phase, timed
from etl.jobs.read import ParsedObject, StreamingObject, read_object
from etl.jobs.reports import (
    DRY_RUN,
    BatchReport,
    FileReport,
    raise_for_failures,
    summarize_reports,
)
from etl.settings import Settings
from etl.sources.discovery import (
    SourceObject,
    arrival_order,
    list_sources,
    not_loaded,
    plan_batches,
    store_for,
)
from etl.sources.stores import ObjectStore, S3Config
from etl.sources.streams import read_ahead
from etl.sources.windows import DateWindow, ingest_window
from etl.warehouse import Lineage, Warehouse, os_user

# The ingest's logger: operators (and tests) filter on it.
log = logging.getLogger("meterhouse.pipeline")

__all__: Final[list[str]] = [
    "BatchReport",
    "FileReport",
    "SourceObject",
    "discover",
    "ingest",
    "ingest_batch",
    "ingest_batch_dicts",
    "lineage_of",
    "plan_ingest",
    "plan_run",
    "publish_pending",
    "raise_for_failures",
    "summarize_reports",
]


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
    only undated keys and keys whose date folder overlaps it are considered
    (etl.sources.windows).
    """
    listed = list_sources(sources, s3, window=window)
    if force or not listed:
        return sorted(listed, key=arrival_order)
    ledger = Warehouse.of(settings).ledger(o.uri for o in listed)
    pending = not_loaded(listed, ledger)
    log.info(
        "step=discover sources=%d listed=%d pending=%d", len(sources), len(listed), len(pending)
    )
    return sorted(pending, key=arrival_order)


def ingest_batch(
    objects: Sequence[SourceObject],
    settings: Settings,
    s3: S3Config | None = None,
    *,
    observer: Observer = NO_OBSERVER,
    lineage: Lineage | None = None,
) -> BatchReport:
    """Load a batch of objects, then publish the lake partitions they touched.

    Small files are validated and committed in groups (up to `group_rows` events or
    `group_files` files per transaction); each file stays all-or-nothing. FOCUS files, which
    replace billing periods, load on their own. `observer` is told how long each step took.
    `lineage` (default: the command line and this OS user) is recorded on every ledger row.
    """
    warehouse = Warehouse.of(settings, lineage=lineage)
    stores: dict[str, ObjectStore] = {}
    reports: list[FileReport] = []
    pending: list[ParsedObject] = []
    pending_rows = 0
    # Remote-write objects are committed in groups too (up to prometheus_group_samples
    # samples): the usage of a group's samples is computed once, and large groups skip the
    # write-ahead log.
    remote: list[ParsedObject] = []

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            reports.extend(load_group(warehouse, stores, pending, settings, observer))
        pending, pending_rows = [], 0

    def flush_remote() -> None:
        nonlocal remote
        if remote:
            reports.extend(load_prometheus_group(warehouse, stores, remote, settings, observer))
        remote = []

    with warehouse.writer():
        # The next group's small objects are read and parsed while this one loads.
        for obj, store, item, started in read_ahead(
            _read_objects(objects, stores, s3, settings, observer),
            weight=functools.partial(_group_share, settings),
            budget=_WHOLE_GROUP,
            depth=settings.group_files,
        ):
            if isinstance(item, MeterhouseError):
                reports.append(
                    failed_report(
                        warehouse, store, obj, item, checksum=None, fmt=None, started=started
                    )
                )
                continue
            if isinstance(item, StreamingObject):
                flush()
                reports.append(load_streaming(warehouse, store, item, settings, observer))
                continue
            if item.parsed.prometheus is not None:
                remote.append(item)
                if (
                    sum(r.parsed.rows_in for r in remote) >= settings.prometheus_group_samples
                    or len(remote) >= settings.group_files
                ):
                    flush_remote()
                continue
            if item.parsed.focus_line_items is not None:
                flush()
                reports.extend(load_group(warehouse, stores, [item], settings, observer))
                continue
            pending.append(item)
            pending_rows += item.parsed.rows_in
            if pending_rows >= settings.group_rows or len(pending) >= settings.group_files:
                flush()
        flush()
        flush_remote()
        touched = {date.fromisoformat(d) for r in reports for d in r.touched_dates}
        # The lake follows the warehouse: every partition this batch's loads marked pending
        # (in their own transactions) gets its new rows, or is rewritten if it lost some.
        with timed(observer, Phase.PUBLISH):
            warehouse.publish_lake()
    return BatchReport(reports, sorted(d.isoformat() for d in touched))


Read = ParsedObject | StreamingObject | MeterhouseError


_WHOLE_GROUP = 1_000_000


def _group_share(
    settings: Settings, item: tuple[SourceObject, ObjectStore, Read, float]
) -> int:
    """How much of its group a read object fills, in millionths of the group's row limit
    (events: group_rows; remote-write samples: prometheus_group_samples)."""
    read = item[2]
    if isinstance(read, StreamingObject):
        return _WHOLE_GROUP
    if not isinstance(read, ParsedObject):
        return 0
    limit = (
        settings.prometheus_group_samples
        if read.parsed.prometheus is not None
        else settings.group_rows
    )
    return read.parsed.rows_in * _WHOLE_GROUP // limit


def _read_objects(
    objects: Sequence[SourceObject],
    stores: dict[str, ObjectStore],
    s3: S3Config | None,
    settings: Settings,
    observer: Observer,
) -> Iterator[tuple[SourceObject, ObjectStore, Read, float]]:
    """Each object with its store, read and parsed when it is small, opened (downloaded to
    its spool file, checksummed, its format found) when it is large, and when its reading
    started. Run through `read_ahead`, the next objects are read while the warehouse loads
    the ones before (polars, DuckDB and hashlib release the GIL); a large object weighs a
    whole group, so at most one waits opened beside the one loading."""
    for obj in objects:
        store = stores.setdefault(obj.root, store_for(obj.root, s3))
        started = time.monotonic()
        read: Read
        try:
            read = read_object(store, obj, settings, observer)
        except MeterhouseError as exc:
            read = exc
        yield obj, store, read, started


def ingest(
    sources: Sequence[str],
    settings: Settings,
    s3: S3Config | None = None,
    *,
    force: bool = False,
    observer: Observer = NO_OBSERVER,
    lineage: Lineage | None = None,
) -> BatchReport:
    """Discover and load everything new under `sources` (the CLI path; Airflow maps batches).

    Every batch records the same `lineage` (default: `cli`, this OS user, started now).
    """
    lineage = lineage or Lineage.cli()
    with timed(observer, Phase.DISCOVER):
        pending = discover(sources, settings, s3, force=force)
    files: list[FileReport] = []
    dates: set[str] = set()
    batches = plan_batches(pending, max_files=settings.batch_files, max_bytes=settings.batch_bytes)
    for batch in batches:
        report = ingest_batch(batch, settings, s3, observer=observer, lineage=lineage)
        files.extend(report.files)
        dates.update(report.touched_dates)
    if not batches:
        publish_pending(settings, observer=observer)
    return BatchReport(files, sorted(dates))


def publish_pending(settings: Settings, *, observer: Observer = NO_OBSERVER) -> None:
    """Finish any lake publish a crashed run left undone (cheap when there is none; a DuckLake
    has no lake to publish)."""
    if settings.ducklake is None and settings.warehouse_path.exists():
        warehouse = Warehouse.of(settings)
        with warehouse.writer(), timed(observer, Phase.PUBLISH):
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
    """What one orchestrated run loads: its window (etl.sources.windows.ingest_window), then
    batches.

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
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load one planned batch (or, on a dry run, only list it); returns the batch report as a dict.

    `run` names the orchestrator's run that loads it, recorded on every ledger row it writes:
    `run_id`, `dag_id`, `try_number`, `run_started_at` (a datetime or ISO text; see
    `lineage_of`). Without it the load is recorded as the command line's.
    """
    settings = settings or Settings.from_env()
    objects = [SourceObject.from_dict(d) for d in batch]
    if dry_run:
        for obj in objects:
            log.info("step=dry_run would_load=%s size=%d", obj.uri, obj.size)
        return BatchReport([FileReport(o.uri, DRY_RUN) for o in objects]).to_dict()
    lineage = lineage_of(run) if run is not None else None
    return ingest_batch(objects, settings, s3, lineage=lineage).to_dict()


def lineage_of(run: Mapping[str, Any]) -> Lineage:
    """The Lineage of an orchestrator's run (`run_id` required; `dag_id`, `try_number`,
    `run_started_at` optional); the OS user is this process's."""
    started = run.get("run_started_at")
    if isinstance(started, str):
        started = datetime.fromisoformat(started)
    try_number = run.get("try_number")
    return Lineage(
        str(run["run_id"]),
        dag_id=run.get("dag_id"),
        try_number=int(try_number) if try_number is not None else None,
        os_user=os_user(),
        run_started_at=started,
    )
