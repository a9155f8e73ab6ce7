"""Duplicates across files: each event_id is stored once (meter_events), every other copy kept
in duplicate_events, and a copy promoted when the stored one's file no longer carries it."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from contracts.meter_event import EVENT_COLUMNS
from etl.warehouse import ledger
from etl.warehouse.connection import Connection, scalar
from etl.warehouse.maps import as_map_input
from etl.warehouse.schema import EVENT_KEY
from etl.warehouse.sqlfiles import sql_text

_REFERENCING = sql_text("duplicates_referencing")
_PROMOTED = sql_text("promoted")
_PROMOTED_REMOVE = sql_text("promoted_remove")
_PROMOTED_REPOINT = sql_text("promoted_repoint")

_STORED_COLUMNS = ", ".join(EVENT_COLUMNS + ["ingested_at"])


def stored_ids(
    con: Connection,
    events: pl.DataFrame,
    *,
    dedup_window_days: int,
    stage: str | None = None,
    uri: str | None = None,
) -> pl.DataFrame:
    """Incoming event_ids the warehouse already holds, with the file that holds each
    (columns event_id, stored_in).

    Looked up only within `dedup_window_days` around the incoming event dates (a retry repeats
    its event time), so the lookup reads the row groups of those days, not the whole history.
    With a `stage`, the rows `uri` still has in the warehouse do not count (they are about to be
    replaced) and its staged stored copies do.
    """
    empty = pl.DataFrame(schema={"event_id": pl.String, "stored_in": pl.String})
    if events.height == 0:
        return empty
    lo, hi = events.select(
        pl.col("event_date").min().alias("lo"), pl.col("event_date").max().alias("hi")
    ).row(0)
    # Matched on event_key: a scan of one fixed-width column, where comparing the ids
    # themselves would read every stored id string in the window.
    con.register("incoming_ids", events.select("event_id").unique().to_arrow())
    staged = (
        f"""UNION ALL SELECT i.event_id, s.source_uri FROM {stage} s JOIN incoming i
            ON s.event_key = i.event_key WHERE s.duplicate_of_uri IS NULL"""  # noqa: S608 - own name
        if stage
        else ""
    )
    found = con.execute(
        f"""WITH incoming AS (SELECT event_id, {EVENT_KEY} AS event_key FROM incoming_ids)
           SELECT event_id, any_value(source_uri) AS stored_in FROM (
             SELECT i.event_id, m.source_uri FROM meter_events m JOIN incoming i
               ON m.event_key = i.event_key
             WHERE m.event_date BETWEEN ?::DATE - CAST(? AS INTEGER) AND ?::DATE + CAST(? AS INTEGER)
               AND m.source_uri IS DISTINCT FROM ?
             {staged})
           GROUP BY event_id""",  # noqa: S608 - fixed SQL and own names
        [lo, dedup_window_days, hi, dedup_window_days, uri],
    ).pl()
    con.unregister("incoming_ids")
    return found if found.height else empty


def insert_events(
    con: Connection,
    events: pl.DataFrame,
    now: datetime,
    *,
    dedup_window_days: int,
    stage: str | None = None,
    uri: str | None = None,
) -> tuple[dict[str, int], dict[str, int], dict[str, set[date]]]:
    """Insert events in order: the first copy of an event_id not already stored goes to
    meter_events, every other copy to duplicate_events. Returns, per source file, the
    events loaded, the duplicates and the event dates loaded.

    With a `stage` (a large file `uri` loading chunk by chunk), both go to the staging
    table instead, and "already stored" means in another file or staged before."""
    events = events.select(EVENT_COLUMNS).with_columns(pl.lit(now).alias("ingested_at"))
    events, as_map = as_map_input(events, ["dimensions"])
    cols = _STORED_COLUMNS
    select = ", ".join(as_map.get(c, c) for c in EVENT_COLUMNS + ["ingested_at"])
    stored = stored_ids(con, events, dedup_window_days=dedup_window_days, stage=stage, uri=uri)
    first_uri = events.filter(pl.col("event_id").is_first_distinct()).select(
        "event_id", pl.col("source_uri").alias("_first_uri")
    )
    flagged = events.with_columns(
        (
            pl.col("event_id").is_first_distinct()
            & ~pl.col("event_id").is_in(stored["event_id"].implode())
        ).alias("_new")
    )
    new_rows = flagged.filter(pl.col("_new")).drop("_new")
    dup_rows = (
        flagged.filter(~pl.col("_new"))
        .drop("_new")
        .join(stored, on="event_id", how="left")
        .join(first_uri, on="event_id", how="left")
        .with_columns(pl.coalesce("stored_in", "_first_uri").alias("duplicate_of_uri"))
        .drop("stored_in", "_first_uri")
    )
    con.register("incoming_new", new_rows.to_arrow())
    if stage is None:
        con.execute(
            f"INSERT INTO meter_events ({cols}, event_key) SELECT {select}, {EVENT_KEY} FROM incoming_new"  # noqa: S608 - fixed column names
        )
    else:
        con.execute(
            f"INSERT INTO {stage} ({cols}, event_key, duplicate_of_uri) SELECT {select}, {EVENT_KEY}, NULL FROM incoming_new"  # noqa: S608 - own name
        )
    con.unregister("incoming_new")
    if dup_rows.height:
        con.register("incoming_dups", dup_rows.to_arrow())
        con.execute(
            f"INSERT INTO {stage or 'duplicate_events'} ({cols}, duplicate_of_uri) "  # noqa: S608 - fixed column names
            f"SELECT {select}, duplicate_of_uri FROM incoming_dups"
        )
        con.unregister("incoming_dups")
    dates: dict[str, set[date]] = {}
    for source, day in new_rows.select("source_uri", "event_date").unique().iter_rows():
        dates.setdefault(source, set()).add(day)
    return (
        dict(new_rows.group_by("source_uri").len().iter_rows()),
        dict(dup_rows.group_by("source_uri").len().iter_rows()),
        dates,
    )


def promote_orphaned_duplicates(con: Connection, uri: str) -> set[date]:
    """Copies that were deduplicated against `uri` become the stored copy when `uri`'s rows no
    longer hold their event_id. Returns the event dates that gained a promoted copy."""
    if not scalar(con, _REFERENCING, [uri, uri]):
        return set()
    con.execute(_PROMOTED, [uri])
    if not scalar(con, "SELECT count(*) FROM promoted"):
        return set()
    cols = _STORED_COLUMNS
    con.execute(
        f"INSERT INTO meter_events ({cols}, event_key) SELECT {cols}, {EVENT_KEY} FROM promoted"  # noqa: S608 - fixed column names
    )
    con.execute(_PROMOTED_REMOVE)
    con.execute(_PROMOTED_REPOINT)
    sources = [r[0] for r in con.execute("SELECT DISTINCT source_uri FROM promoted").fetchall()]
    for src in sources:
        ledger.recount_ledger(con, src)
    return {r[0] for r in con.execute("SELECT DISTINCT event_date FROM promoted").fetchall()}
