"""Loads: a file's rows replace its previous ones, all or nothing, with its ledger row.

Groups of small files share one transaction; a large file comes in chunks, staged and merged
in one last transaction. A file that cannot be read loses its rows (`record_failure`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl

from contracts.meter_event import EVENT_COLUMNS, REJECT_COLUMNS
from etl.errors import TerminalError
from etl.lake.files import unordered
from etl.warehouse import ledger
from etl.warehouse.connection import Connection, release_freed_memory, scalar, transaction
from etl.warehouse.dedup import (
    DEFAULT_DEDUP_WINDOW_DAYS,
    insert_events,
    promote_orphaned_duplicates,
    resolve_duplicates,
    stage_stored_elsewhere,
)
from etl.warehouse.focus_deliveries import (
    findings_of_source,
    insert_focus_findings,
    insert_focus_line_items,
    supersede_older_deliveries,
)
from etl.warehouse.focus_reconciliation import SourceTotals, reconcile_source, source_totals
from etl.warehouse.records import (
    EMPTY,
    ERROR,
    FAILED,
    LOADED,
    Chunk,
    Lineage,
    LoadResult,
    Retraction,
    SourceLoad,
)
from etl.warehouse.sqlfiles import sql_statements, sql_text
from etl.warehouse.stage import create_stage, drop_stages

_LEDGER_HAS_URI = sql_text("ledger_has_uri")
_SOURCE_DATES = sql_text("source_dates")
_REMOVE_SOURCE = sql_statements("remove_source")
_LEDGER_COUNTS = sql_text("ledger_counts")
_LEDGER_RETRACT = sql_text("ledger_retract")
_KNOWN_URIS = "SELECT source_uri FROM ingest_ledger"
_STORED_COLUMNS = ", ".join(EVENT_COLUMNS + ["ingested_at"])
_REJECT_COLUMNS = ", ".join(REJECT_COLUMNS + ["rejected_at"])

Counts = tuple[int, int, int, int]
"""A file's rows_in, events loaded, duplicates and rejected."""


def replace_sources_rows(
    con: Connection,
    loads: Sequence[SourceLoad],
    *,
    dedup_window_days: int,
    lineage: Lineage | None = None,
) -> list[LoadResult]:
    """Validate-then-replace the rows of a group of files and write their ledger rows, in one
    transaction (many small files: a few commits instead of one per file).

    Each file's previous rows, duplicates and rejects are deleted; its new events are inserted
    except those whose event_id the warehouse already holds from another file (or earlier in
    this group), which go to `duplicate_events`. Events that only this file held before and no
    longer carries are replaced by their next stored copy, if any.
    """
    with transaction(con):
        return _replace_group(con, loads, dedup_window_days, lineage)


def record_failure(
    con: Connection,
    *,
    source_uri: str,
    source_key: str,
    etag: str,
    size_bytes: int,
    last_modified: datetime,
    checksum_sha256: str | None,
    source_format: str | None,
    error: str,
    retryable: bool,
    dedup_window_days: int = DEFAULT_DEDUP_WINDOW_DAYS,
    lineage: Lineage | None = None,
) -> frozenset[date]:
    """Mark a file failed. Its earlier rows (if any) are removed in the same transaction:
    a file that can no longer be read must not keep contributing stale rows."""
    with transaction(con):
        touched = remove_source(con, source_uri) | promote_orphaned_duplicates(
            con, source_uri, dedup_window_days=dedup_window_days
        )
        ledger.upsert_ledger(
            con,
            [
                {
                    "source_uri": source_uri,
                    "source_key": source_key,
                    "etag": etag,
                    "size_bytes": size_bytes,
                    "checksum_sha256": checksum_sha256,
                    "last_modified": last_modified,
                    "source_format": source_format,
                    "status": ERROR if retryable else FAILED,
                    "rows_in": 0,
                    "events_loaded": 0,
                    "duplicates": 0,
                    "rejected": 0,
                    "error": error,
                }
            ],
            lineage,
        )
        ledger.mark_lake_pending(con, rewrite=touched)
    return touched


def retract_source(
    con: Connection, uri: str, *, dedup_window_days: int = DEFAULT_DEDUP_WINDOW_DAYS
) -> Retraction:
    """Remove a source's events, duplicates, rejects and FOCUS line items on purpose, in one
    transaction, and mark it `retracted` in the ledger (copies other files carry of its events
    take their place by the duplicate rule). Raises TerminalError for a URI the ledger does
    not know."""
    with transaction(con):
        row = con.execute(_LEDGER_COUNTS, [uri]).fetchone()
        if row is None:
            raise TerminalError(
                f"{uri}: no such source in the ingest ledger; give the source_uri exactly as "
                "`meterhouse status` or the ingest_ledger table shows it"
            )
        _, events, duplicates, rejected = row
        touched = remove_source(con, uri) | promote_orphaned_duplicates(
            con, uri, dedup_window_days=dedup_window_days
        )
        con.execute(_LEDGER_RETRACT, [ledger.now(), uri])
        ledger.mark_lake_pending(con, rewrite=touched)
    return Retraction(uri, int(events), int(duplicates), int(rejected), frozenset(touched))


@dataclass(frozen=True)
class Staged:
    """What a stager staged: the counts of its rows, the chunks of the rest, and (FOCUS) a
    relation of more line items, in focus_line_items' columns, typed by SQL as the merge
    stores them (its file's text stays until then, instead of a typed copy), with the
    relation of their events."""

    counts: Counts
    chunks: Iterable[Chunk]
    line_items: str | None = None
    events: str | None = None
    """The events (EVENT_COLUMNS but event_id, and ingested_at) of the stage's
    `from_line_items` rows, whose event_id the stage holds, by source_row, typed by SQL from
    the file's text as the merge stores them (a typed copy staged first would be written
    twice)."""


Stager = Callable[[Connection, str, datetime], Staged]
"""Stages a file's rows by SQL of its own (`etl.warehouse.typed`, `etl.warehouse.typed_focus`)
in the private staging table it is given."""


def replace_source_chunks(
    con: Connection,
    load: SourceLoad,
    chunks: Iterable[Chunk],
    *,
    dedup_window_days: int,
    lineage: Lineage | None = None,
    stager: Stager | None = None,
) -> LoadResult:
    """`replace_sources_rows` for one file too large to hold at once, fed chunk by chunk.

    Each chunk is deduplicated against the chunks before it and committed into private
    staging tables, so neither this process nor DuckDB holds the whole file; then one
    transaction finds the staged copies other files store (in one pass for the whole file,
    within the dedup window of its event dates, as in one piece) and replaces the file's rows
    with the staged ones.
    With a `stager`, the file's rows are first staged by it (a clean CSV or NDJSON export
    typed by DuckDB from its file) and `chunks` is ignored: the stager returns the chunks of
    the rows it left.
    The file is still all-or-nothing: an exception raised by `chunks` (a bad gzip tail, too
    many rejects) leaves the warehouse as it was.
    """
    uri = load.source_uri
    stage = create_stage(con)
    try:
        now = ledger.now()
        rows_in = loaded = duplicates = rejected = 0
        items = events = None
        if stager is not None:
            staged = stager(con, stage, now)
            (rows_in, loaded, duplicates, rejected), chunks = staged.counts, staged.chunks
            items, events = staged.line_items, staged.events
        totals = SourceTotals()
        for chunk in chunks:
            with transaction(con):
                new, dups, _ = insert_events(
                    con,
                    chunk.events,
                    now,
                    dedup_window_days=dedup_window_days,
                    stage=stage,
                )
                insert_rejects(con, chunk.rejects, now, table=f"{stage}_rejects")
                if chunk.focus_line_items is not None:
                    # Line items are matched to their events on source_row (event_id beside it).
                    part = replace(
                        load, events=chunk.events.frame, focus_line_items=chunk.focus_line_items
                    )
                    insert_focus_line_items(con, part, now, table=f"{stage}_focus")
                if chunk.focus_findings is not None:
                    insert_focus_findings(
                        con, chunk.focus_findings, now, f"{stage}_findings", chunk.rejects
                    )
            if chunk.focus_amounts is not None:
                totals.add(chunk.focus_amounts, chunk.rejects.get_column("source_row").drop_nulls())
                load = replace(load, focus_totals=totals)
            rows_in += chunk.rows_in
            loaded += new.get(uri, 0)
            duplicates += dups.get(uri, 0)
            rejected += chunk.rejects.height
        release_freed_memory()
        with transaction(con):
            counts = (rows_in, loaded, duplicates, rejected)
            return _merge_stage(
                con, load, stage, counts, now, dedup_window_days, lineage, items, events
            )
    finally:
        drop_stages(con)


def remove_source(con: Connection, uri: str) -> frozenset[date]:
    """Delete a file's events, duplicates, rejects and line items; returns the event dates it
    held."""
    # A file the ledger has never seen has nothing to remove: skip four table scans.
    if not scalar(con, _LEDGER_HAS_URI, [uri]):
        return frozenset()
    old_dates = {r[0] for r in con.execute(_SOURCE_DATES, [uri]).fetchall()}
    for statement in _REMOVE_SOURCE:
        con.execute(statement, [uri])
    return frozenset(old_dates)


def insert_rejects(
    con: Connection, rejects: pl.DataFrame, now: datetime, table: str = "rejected_rows"
) -> None:
    """Store rejected rows (REJECT_COLUMNS) stamped `now` in `table`."""
    if not rejects.height:
        return
    con.register(
        "incoming_rejects",
        rejects.select(REJECT_COLUMNS).with_columns(pl.lit(now).alias("rejected_at")).to_arrow(),
    )
    con.execute(
        f"INSERT INTO {table} ({_REJECT_COLUMNS}) SELECT {_REJECT_COLUMNS} FROM incoming_rejects"  # noqa: S608
    )
    con.unregister("incoming_rejects")


def _replace_group(
    con: Connection,
    loads: Sequence[SourceLoad],
    dedup_window_days: int,
    lineage: Lineage | None,
) -> list[LoadResult]:
    """Replace the rows of several files inside the caller's transaction.

    Files are taken in order: an event_id carried by an earlier file of the group (or
    already stored) makes later copies duplicates, exactly as loading them one by one.
    """
    now = ledger.now()
    uris = [load.source_uri for load in loads]
    # One lookup for the group: only files the ledger already knows have rows to remove.
    known = ledger.uris_in(con, _KNOWN_URIS, uris)
    touched: dict[str, set[date]] = {
        uri: set(remove_source(con, uri)) if uri in known else set() for uri in uris
    }
    superseded_sources: set[str] = set()
    for load in loads:
        if load.focus_line_items is not None:
            older, dates = supersede_older_deliveries(con, load)
            superseded_sources |= older
            touched[load.source_uri] |= dates
    # Days that lost rows (a replaced file, a superseded delivery) are rewritten in the
    # lake; days that only gain rows get a part file more.
    rewrite = set().union(*touched.values())
    new, dups, dates_by_uri = insert_events(
        con,
        pl.concat([load.events.select(EVENT_COLUMNS) for load in loads]),
        now,
        dedup_window_days=dedup_window_days,
    )
    for uri, days in dates_by_uri.items():
        touched[uri] |= days
    insert_rejects(con, pl.concat([load.rejects.select(REJECT_COLUMNS) for load in loads]), now)
    counts = {
        load.source_uri: (
            load.rows_in,
            new.get(load.source_uri, 0),
            dups.get(load.source_uri, 0),
            load.rejects.height,
        )
        for load in loads
    }
    return finish_sources(
        con, loads, counts, touched, rewrite, superseded_sources, now, dedup_window_days, lineage
    )


def _merge_stage(
    con: Connection,
    load: SourceLoad,
    stage: str,
    counts: Counts,
    now: datetime,
    dedup_window_days: int,
    lineage: Lineage | None,
    items: str | None = None,
    events: str | None = None,
) -> LoadResult:
    """Inside the caller's transaction: the staged rows replace the file's old rows, with
    one INSERT ... SELECT per table (DuckDB writes large appends straight to disk); `items`:
    a relation of more line items (`Staged.line_items`), `events`: the events of the staged
    `from_line_items` rows (`Staged.events`)."""
    uri = load.source_uri
    # Copies other files store, found for the whole file at once (not chunk by chunk).
    elsewhere = stage_stored_elsewhere(con, stage, uri, dedup_window_days=dedup_window_days)
    rows_in, loaded, duplicates, rejected = counts
    counts = (rows_in, loaded - elsewhere, duplicates + elsewhere, rejected)
    removed = set(remove_source(con, uri))
    superseded: set[str] = set()
    if load.focus_line_items is not None:
        period = 'SELECT DISTINCT "BillingAccountId", "BillingPeriodStart" FROM'
        also = f" UNION SELECT * FROM ({period} ({items}))" if items else ""  # noqa: S608
        periods = con.execute(f"{period} {stage}_focus{also}").pl()  # noqa: S608 - own names
        older, lost = supersede_older_deliveries(con, load, periods)
        superseded |= older
        removed |= lost
    cols = _STORED_COLUMNS
    # One INSERT per table: in DuckDB 1.5 an empty INSERT followed in the same transaction by
    # one of more than a row group hides the second's rows from the rest of the transaction.
    also = f" UNION ALL BY NAME SELECT * FROM ({items})" if items else ""  # noqa: S608
    stored = copies = stage
    if events:
        # The rows staged by their keys alone, completed from the file's text.
        stored = f"""(SELECT {cols}, event_key, duplicate_of_uri FROM {stage} WHERE from_line_items IS NULL
                    UNION ALL BY NAME
                    SELECT e.*, s.event_id, s.event_key, s.duplicate_of_uri
                    FROM ({events}) e JOIN {stage} s ON s.from_line_items AND s.source_row = e.source_row)"""  # noqa: S608
        # The join types every row: read for the duplicates only when one of them is.
        deferred = (
            f"SELECT count(*) FROM {stage} WHERE from_line_items AND duplicate_of_uri IS NOT NULL"  # noqa: S608
        )
        if scalar(con, deferred):
            copies = stored
    # The stored rows carry their place in the file (source_row); none is read by its rowid's
    # order.
    with unordered(con):
        con.execute(
            f"INSERT INTO meter_events ({cols}, event_key) SELECT {cols}, event_key FROM {stored} WHERE duplicate_of_uri IS NULL"  # noqa: S608
        )
        con.execute(
            f"INSERT INTO duplicate_events ({cols}, duplicate_of_uri) SELECT {cols}, duplicate_of_uri FROM {copies} WHERE duplicate_of_uri IS NOT NULL"  # noqa: S608
        )
        con.execute(f"INSERT INTO rejected_rows SELECT * FROM {stage}_rejects")  # noqa: S608
        con.execute(f"INSERT INTO focus_line_items BY NAME SELECT * FROM {stage}_focus{also}")  # noqa: S608
        con.execute(f"INSERT INTO focus_conformance SELECT * FROM {stage}_findings")  # noqa: S608
    added = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT event_date FROM {stage} WHERE duplicate_of_uri IS NULL"  # noqa: S608
        ).fetchall()
    }
    touched = {uri: removed | added}
    return finish_sources(
        con,
        [replace(load, focus_line_items=None, focus_findings=None, focus_amounts=None)],
        {uri: counts},
        touched,
        removed,
        superseded,
        now,
        dedup_window_days,
        lineage,
    )[0]


def finish_sources(
    con: Connection,
    loads: Sequence[SourceLoad],
    counts: dict[str, Counts],
    touched: dict[str, set[date]],
    rewrite: set[date],
    superseded_sources: set[str],
    now: datetime,
    dedup_window_days: int = DEFAULT_DEDUP_WINDOW_DAYS,
    lineage: Lineage | None = None,
) -> list[LoadResult]:
    """After the files' rows are in: keep the copy the duplicate rule picks of every event_id
    these files duplicated or stopped carrying, write FOCUS line items and the ledger rows
    (rows_in, loaded, duplicates, rejected per file), mark the lake."""
    uris = [load.source_uri for load in loads]
    # Only after the new rows are in: every copy of an id is ranked together.
    resolution = resolve_duplicates(
        con,
        uris=[*uris, *sorted(superseded_sources - set(uris))],
        dedup_window_days=dedup_window_days,
        now=now,
    )
    rewrite |= resolution.dates
    for uri in [*uris, *superseded_sources]:
        # A superseded file's changes belong to the delivery that replaced it.
        touched[uri if uri in touched else uris[0]] |= resolution.dates_by_uri.get(uri, set())
    for uri, moved in resolution.moved.items():
        if uri in counts:
            rows_in, loaded, duplicates, rejected = counts[uri]
            counts[uri] = (rows_in, loaded + moved, duplicates - moved, rejected)
    results = []
    ledger_rows = []
    for load in loads:
        uri = load.source_uri
        if load.focus_line_items is not None:
            insert_focus_line_items(con, load, now)
        if load.focus_findings is not None:
            insert_focus_findings(con, load.focus_findings, now, rejects=load.rejects)
        totals = load.focus_totals
        if totals is None and load.focus_amounts is not None:
            totals = source_totals(load.focus_amounts, load.rejects)
        findings: tuple[tuple[str, int], ...] = ()
        if totals is not None:
            reconcile_source(con, uri, totals, now)
            findings = findings_of_source(con, uri)
        rows_in, loaded, duplicates, rejected = counts[uri]
        status = LOADED if rows_in else EMPTY
        ledger_rows.append(
            {
                "source_uri": uri,
                "source_key": load.source_key,
                "etag": load.etag,
                "size_bytes": load.size_bytes,
                "checksum_sha256": load.checksum_sha256,
                "last_modified": load.last_modified,
                "source_format": load.source_format,
                "status": status,
                "rows_in": rows_in,
                "events_loaded": loaded,
                "duplicates": duplicates,
                "rejected": rejected,
                "error": None,
            }
        )
        if loaded + duplicates + rejected != rows_in:
            raise AssertionError(
                f"{uri}: rows_in={rows_in} but loaded={loaded} duplicates={duplicates} rejected={rejected}"
            )
        results.append(
            LoadResult(
                uri,
                status,
                rows_in,
                loaded,
                duplicates,
                rejected,
                frozenset(touched[uri]),
                findings,
            )
        )
    ledger.upsert_ledger(con, ledger_rows, lineage)
    added = set().union(*touched.values()) - rewrite
    ledger.mark_lake_pending(con, rewrite=rewrite, appended=added, since=now)
    return results
