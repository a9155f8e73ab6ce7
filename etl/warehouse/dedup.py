"""Duplicates across files: each event_id is stored once (meter_events), every other copy kept
in duplicate_events. Which copy is stored follows one rule, whatever order files load in
(`resolve_duplicates`); a copy whose content differs from the stored one is a conflict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from contracts.meter_event import EVENT_COLUMNS
from etl.warehouse import ledger
from etl.warehouse.connection import Connection
from etl.warehouse.maps import as_map_input
from etl.warehouse.records import PreparedEvents
from etl.warehouse.schema import EVENT_KEY
from etl.warehouse.sqlfiles import sql_statements, sql_text

_RESOLVE_IDS = sql_text("resolve_ids")
_RESOLVE_RANGE = sql_text("resolve_range")
_RESOLVE_STORED = sql_text("resolve_stored")
_RESOLVED = sql_text("resolved")
_RESOLVE_APPLY = sql_statements("resolve_apply")
_RESOLVE_KINDS = sql_text("resolve_kinds")
_RESOLVE_MOVED = sql_text("resolve_moved")
_RESOLVE_TOUCHED = sql_text("resolve_touched")
_LEDGER_SHIFT = sql_text("ledger_shift")

DEFAULT_DEDUP_WINDOW_DAYS = 31
"""METERHOUSE_DEDUP_WINDOW_DAYS's default: copies are matched within this many days."""

_STORED_COLUMNS = ", ".join([*EVENT_COLUMNS, "ingested_at"])


def prepare_events(events: pl.DataFrame) -> PreparedEvents:
    """Valid events made ready for `insert_events`: the polars work that does not depend on
    the warehouse, so that a reading thread can do it while the loading thread inserts."""
    frame, as_map = as_map_input(events.select(EVENT_COLUMNS), ["dimensions"])
    frame = frame.with_columns(pl.col("event_id").is_first_distinct().alias("_first"))
    select = ", ".join([*(as_map.get(c, c) for c in EVENT_COLUMNS), "?::TIMESTAMPTZ"])
    return PreparedEvents(
        frame,
        select,
        all_first=bool(frame.get_column("_first").all()),
        counts=dict(frame.group_by("source_uri").len().iter_rows()),
        dates=_dates_by_uri(frame),
    )


def stored_ids(
    con: Connection,
    events: pl.DataFrame,
    *,
    dedup_window_days: int,
    stage: str | None = None,
) -> pl.DataFrame:
    """Incoming event_ids already stored, with the file that stores each (columns event_id,
    stored_in): in the warehouse or, with a `stage` (a large file loading chunk by chunk),
    among the file's chunks staged before (its copies stored in other files are found once,
    when the stage is merged: `stage_stored_elsewhere`).

    Looked up in the warehouse only within `dedup_window_days` around the incoming event dates
    (a retry repeats its event time), so the lookup reads the row groups of those days, not the
    whole history.
    """
    empty = pl.DataFrame(schema={"event_id": pl.String, "stored_in": pl.String})
    if events.height == 0:
        return empty
    # Matched on event_key: a scan of one fixed-width column, where comparing the ids
    # themselves would read every stored id string. Repeated ids are matched once each by the
    # GROUP BY.
    con.register("incoming_ids", events.select("event_id").to_arrow())
    if stage is not None:
        source, where, params = f"{stage} s", "s.duplicate_of_uri IS NULL", []
    else:
        lo, hi = events.select(
            pl.col("event_date").min().alias("lo"), pl.col("event_date").max().alias("hi")
        ).row(0)
        source = "meter_events s"
        where = "s.event_date BETWEEN ?::DATE - CAST(? AS INTEGER) AND ?::DATE + CAST(? AS INTEGER)"
        params = [lo, dedup_window_days, hi, dedup_window_days]
    found = con.execute(
        f"""WITH incoming AS (SELECT event_id, {EVENT_KEY} AS event_key FROM incoming_ids)
           SELECT i.event_id, any_value(s.source_uri) AS stored_in
           FROM {source} JOIN incoming i ON s.event_key = i.event_key
           WHERE {where}
           GROUP BY i.event_id""",  # noqa: S608 - fixed SQL and own names
        params,
    ).pl()
    con.unregister("incoming_ids")
    return found if found.height else empty


def stage_stored_elsewhere(
    con: Connection, stage: str, uri: str, *, dedup_window_days: int
) -> int:
    """Before a large file's stage is merged: its staged stored copies whose event_id another
    file stores (within `dedup_window_days` of the file's event dates, the window a file
    loaded in one piece is matched in) become duplicates of that file, found in one pass over
    the warehouse for the whole file. The rows `uri` itself still has in the warehouse do not
    count: they are about to be replaced. Returns how many copies turned into duplicates."""
    window = con.execute(
        f"SELECT min(event_date), max(event_date) FROM {stage}"  # noqa: S608 - own name
    ).fetchone()
    if window is None or window[0] is None:
        return 0
    row = con.execute(
        f"""UPDATE {stage} AS s SET duplicate_of_uri = f.stored_in
           FROM (SELECT m.event_key, any_value(m.source_uri) AS stored_in
                 FROM meter_events m
                 SEMI JOIN {stage} k ON m.event_key = k.event_key AND k.duplicate_of_uri IS NULL
                 WHERE m.event_date BETWEEN ?::DATE - CAST(? AS INTEGER) AND ?::DATE + CAST(? AS INTEGER)
                   AND m.source_uri IS DISTINCT FROM ?
                 GROUP BY m.event_key) AS f
           WHERE s.event_key = f.event_key AND s.duplicate_of_uri IS NULL""",  # noqa: S608 - own name
        [window[0], dedup_window_days, window[1], dedup_window_days, uri],
    ).fetchone()
    return int(row[0]) if row else 0


def insert_events(
    con: Connection,
    events: pl.DataFrame | PreparedEvents,
    now: datetime,
    *,
    dedup_window_days: int,
    stage: str | None = None,
) -> tuple[dict[str, int], dict[str, int], dict[str, set[date]]]:
    """Insert events: the first copy of an event_id not already stored goes to meter_events,
    every other copy to duplicate_events. This split is provisional: `resolve_duplicates`,
    run by the load before it commits, keeps the copy the duplicate rule picks. Returns, per
    source file, the events loaded, the duplicates and the event dates loaded.

    With a `stage` (a large file loading chunk by chunk), both go to the staging table
    instead, and "already stored" means staged before (`stored_ids`)."""
    prepared = events if isinstance(events, PreparedEvents) else prepare_events(events)
    frame, select = prepared.frame, prepared.select
    cols = _STORED_COLUMNS
    stored = stored_ids(con, frame, dedup_window_days=dedup_window_days, stage=stage)
    if prepared.all_first and not stored.height:
        # Every event is new: the common case of a fresh file, without a filter pass.
        new_rows, dup_rows = frame, frame.clear()
    else:
        new = pl.col("_first") & ~pl.col("event_id").is_in(stored["event_id"].implode())
        new_rows = frame.filter(new)
        dup_rows = frame.filter(~new)
        # The file a copy duplicates: the one that stores its id, else the one that carries
        # its first copy among these events.
        first_uri = frame.filter(
            pl.col("_first") & pl.col("event_id").is_in(dup_rows["event_id"].implode())
        ).select("event_id", pl.col("source_uri").alias("_first_uri"))
        dup_rows = (
            dup_rows.join(stored, on="event_id", how="left")
            .join(first_uri, on="event_id", how="left")
            .with_columns(pl.coalesce("stored_in", "_first_uri").alias("duplicate_of_uri"))
            .drop("stored_in", "_first_uri")
        )
    con.register("incoming_new", new_rows.to_arrow())
    if stage is None:
        con.execute(
            f"INSERT INTO meter_events ({cols}, event_key) SELECT {select}, {EVENT_KEY} FROM incoming_new",  # noqa: S608 - fixed column names
            [now],
        )
    else:
        con.execute(
            f"INSERT INTO {stage} ({cols}, event_key, duplicate_of_uri) SELECT {select}, {EVENT_KEY}, NULL FROM incoming_new",  # noqa: S608 - own name
            [now],
        )
    con.unregister("incoming_new")
    if dup_rows.height:
        con.register("incoming_dups", dup_rows.to_arrow())
        con.execute(
            f"INSERT INTO {stage or 'duplicate_events'} ({cols}, duplicate_of_uri) "  # noqa: S608 - fixed column names
            f"SELECT {select}, duplicate_of_uri FROM incoming_dups",
            [now],
        )
        con.unregister("incoming_dups")
        return (
            dict(new_rows.group_by("source_uri").len().iter_rows()),
            dict(dup_rows.group_by("source_uri").len().iter_rows()),
            _dates_by_uri(new_rows),
        )
    return dict(prepared.counts), {}, {uri: set(days) for uri, days in prepared.dates.items()}


def _dates_by_uri(frame: pl.DataFrame) -> dict[str, set[date]]:
    dates: dict[str, set[date]] = {}
    for source, day in frame.select("source_uri", "event_date").unique().iter_rows():
        dates.setdefault(source, set()).add(day)
    return dates


@dataclass(frozen=True)
class Resolution:
    """What ranking the copies of some event_ids changed: per file, how many of its copies
    moved into meter_events (positive) or out of it (negative), and the event dates whose
    stored rows changed."""

    moved: dict[str, int] = field(default_factory=dict)
    dates: set[date] = field(default_factory=set)
    dates_by_uri: dict[str, set[date]] = field(default_factory=dict)
    """The dates per file involved (a moved copy's own file, the kept copy's, and the file
    the copy was a duplicate of), so a load reports the days it changed whatever its group."""


def resolve_duplicates(
    con: Connection,
    *,
    uris: Sequence[str] = (),
    dedup_window_days: int = DEFAULT_DEDUP_WINDOW_DAYS,
    now: datetime | None = None,
) -> Resolution:
    """Store, of every copy of an event_id, the one the duplicate rule picks, whatever order
    the files loaded in: the earliest `event_time`, then the smallest `source_uri`, then the
    smallest `source_row`. Every other copy is in duplicate_events, pointing at the kept copy's
    file, with `conflict` true when its content differs from the kept copy's.

    Ranked again: the ids with a duplicate not ranked yet (`conflict` null: just inserted, or
    stored before this rule existed) and those with copies deduplicated against one of `uris`
    (files whose rows were just replaced or removed: a copy they no longer carry is replaced
    by the next one). Runs inside the caller's transaction, whose time `now` is stamped on the
    duplicate rows that change; the ledger counts of files other than `uris` are shifted
    here, those of `uris` are the caller's to adjust (`moved`).
    """
    con.register(
        "resolve_uris", pl.DataFrame({"uri": list(uris)}, schema={"uri": pl.String}).to_arrow()
    )
    con.execute(_RESOLVE_IDS)
    con.unregister("resolve_uris")
    lo, hi = con.execute(_RESOLVE_RANGE, [dedup_window_days, dedup_window_days]).fetchone() or (
        None,
        None,
    )
    if lo is None:
        return Resolution()
    con.execute(_RESOLVE_STORED, [lo, hi])
    con.execute(_RESOLVED)
    stamp = now or ledger.now()
    # Each statement runs only when `resolved` has rows for it. DuckDB 1.5.5 loses sight of a
    # large append made earlier in the same transaction when an INSERT of zero rows read from
    # a temporary table follows into the same table: after COMMIT, this connection no longer
    # sees the appended rows (they are on disk and come back on reopen), so the next file's
    # duplicate lookup misses them (tests/integration/warehouse/test_large_appends.py).
    kinds = con.execute(_RESOLVE_KINDS).fetchone() or (0, 0, 0, 0)
    params: tuple[list[datetime], ...] = ([], [], [], [stamp], [stamp])
    for statement, args, rows in zip(_RESOLVE_APPLY, params, (*kinds, kinds[0]), strict=True):
        if rows:
            con.execute(statement, args)
    moved = {uri: int(n) for uri, n in con.execute(_RESOLVE_MOVED).fetchall() if n}
    dates_by_uri: dict[str, set[date]] = {}
    for uri, day in con.execute(_RESOLVE_TOUCHED).fetchall():
        dates_by_uri.setdefault(uri, set()).add(day)
    own = set(uris)
    for uri, count in moved.items():
        if uri not in own:
            con.execute(_LEDGER_SHIFT, [count, count, uri])
    return Resolution(moved, set().union(*dates_by_uri.values()), dates_by_uri)


def promote_orphaned_duplicates(
    con: Connection, uri: str, *, dedup_window_days: int = DEFAULT_DEDUP_WINDOW_DAYS
) -> set[date]:
    """After `uri`'s rows were removed: the copies deduplicated against it are ranked again
    (the next copy by the duplicate rule becomes the stored one). Returns the event dates
    whose stored rows changed."""
    return resolve_duplicates(con, uris=[uri], dedup_window_days=dedup_window_days).dates
