"""A large Amberflo CSV or NDJSON export staged by DuckDB straight from its file
(etl.formats.amberflo.typed): its plain rows typed in SQL, the others handed back to the
chunked reader and the normalizer as chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import polars as pl

from contracts.meter_event import EVENT_COLUMNS
from etl.formats.amberflo.duckdb_csv import TypedPlan, plain_names
from etl.formats.amberflo.records import MAX_DIMENSION_VALUE, MAX_DIMENSIONS
from etl.warehouse.connection import Connection
from etl.warehouse.load import Counts
from etl.warehouse.records import Chunk
from etl.warehouse.schema import EVENT_KEY

_STAGED_COLUMNS = ", ".join([*EVENT_COLUMNS, "ingested_at", "duplicate_of_uri", "event_key"])


class TypedReadRefused(Exception):  # noqa: N818 - a signal, not a failure of the file
    """DuckDB does not read this file exactly as the chunked reader does (a ragged row, bytes
    that are not UTF-8, a dimension value over the limit): load it in chunks instead.
    Raised before anything is written to the warehouse."""


def stage_typed(
    con: Connection,
    stage: str,
    now: datetime,
    *,
    plan: TypedPlan,
    path: str,
    uri: str,
    latest_ms: int,
    leftover: Callable[[pl.DataFrame], Chunk],
    batch_rows: int,
) -> tuple[Counts, Iterator[Chunk]]:
    """Read the file at `path` into `<stage>_raw`, stage its plain rows (a repeated event_id:
    the first copy stored, the others duplicates of this file), and return their counts and
    the chunks `leftover` makes of the other rows, `batch_rows` at a time."""
    import duckdb

    raw = f"{stage}_raw"
    try:
        con.execute(
            f"""CREATE TEMP TABLE {raw} AS SELECT {plan.kept}, _plain
                FROM (SELECT *, coalesce({plan.plain}, false) AS _plain FROM {plan.read})""",  # noqa: S608 - the plan's SQL, own name
            [latest_ms, path],
        )
    except (duckdb.InvalidInputException, duckdb.NotImplementedException) as exc:
        # A ragged row, bytes that are not UTF-8, a line DuckDB's parallel reader cannot hold.
        raise TypedReadRefused(f"{uri}: {' '.join(str(exc).split())[:200]}") from exc
    row = con.execute(
        f"SELECT count(*) FILTER (_plain), max({plan.longest_dimension}) FROM {raw}"  # noqa: S608
    ).fetchone()
    assert row is not None
    plain, longest = int(row[0]), int(row[1] or 0)
    if longest > MAX_DIMENSION_VALUE:
        raise TypedReadRefused(f"{uri}: a dimension value is over {MAX_DIMENSION_VALUE} characters")
    con.execute(
        f"""INSERT INTO {stage} ({_STAGED_COLUMNS})
            SELECT *, ?::TIMESTAMPTZ, NULL, {EVENT_KEY} FROM (SELECT {_typed(con, raw, plan)} FROM {raw} WHERE _plain)""",  # noqa: S608 - the plan's SQL, own names
        [now, uri],
    )
    # Repeats of an id within the file: the first copy (by row) stays stored. Only the ids
    # whose key repeats are ranked.
    repeated = con.execute(
        f"""UPDATE {stage} SET duplicate_of_uri = ? WHERE rowid IN (
              SELECT rowid FROM {stage}
              WHERE event_key IN (SELECT event_key FROM {stage} GROUP BY event_key HAVING count(*) > 1)
              QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_row) > 1)""",  # noqa: S608
        [uri],
    ).fetchone()
    duplicates = int(repeated[0]) if repeated else 0
    counts = (plain, plain - duplicates, duplicates, 0)
    return counts, _leftover_chunks(con, stage, plan, leftover, batch_rows)


def _typed(con: Connection, raw: str, plan: TypedPlan) -> str:
    """The plan's typed columns, in the form that knows the file's dimension keys when there
    are few enough plain ones."""
    if plan.dimension_keys is None or plan.typed_for_keys is None:
        return plan.typed
    names = [
        name
        for (name,) in con.execute(
            f"""SELECT DISTINCT unnest({plan.dimension_keys}) AS name FROM {raw}
                WHERE _plain ORDER BY name LIMIT {MAX_DIMENSIONS + 1}"""  # noqa: S608 - the plan's SQL, own name
        ).fetchall()
    ]
    if len(names) > MAX_DIMENSIONS or not plain_names(names):
        return plan.typed
    return plan.typed_for_keys(names)


def _leftover_chunks(
    con: Connection,
    stage: str,
    plan: TypedPlan,
    leftover: Callable[[pl.DataFrame], Chunk],
    batch_rows: int,
) -> Iterator[Chunk]:
    raw = f"{stage}_raw"
    for frame in leftover_frames(con, raw, plan.leftover, batch_rows):
        chunk = leftover(frame)
        _require_file_order(con, stage, chunk)
        yield chunk
    # The file's text is let go before the stage is merged.
    con.execute(f"DROP TABLE {raw}")


def leftover_frames(
    con: Connection, raw: str, columns: str, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The rows of the raw table `raw` that are not plain (`columns` of each, source_row
    among them), in file order, `batch_rows` at a time."""
    after = 0
    while True:
        frame = con.execute(
            f"SELECT {columns} FROM {raw} WHERE NOT _plain AND rowid >= ? ORDER BY rowid LIMIT ?",  # noqa: S608
            [after, batch_rows],
        ).pl()
        if not frame.height:
            return
        after = int(frame.get_column("source_row").max())  # type: ignore[arg-type]
        yield frame


def _require_file_order(con: Connection, stage: str, chunk: Chunk) -> None:
    """Refuse the file when a row of `chunk` carries an event_id whose stored copy among the
    staged plain rows comes later in the file: read in file order, this row would be the
    first copy, and which copy a file keeps must not depend on how it was read."""
    if not chunk.events.frame.height:
        return
    con.register("leftover_ids", chunk.events.frame.select("event_id", "source_row").to_arrow())
    try:
        later = con.execute(
            f"""SELECT count(*) FROM {stage} s
                JOIN (SELECT {EVENT_KEY} AS event_key, source_row FROM leftover_ids) i
                  ON s.event_key = i.event_key
                WHERE s.duplicate_of_uri IS NULL AND s.source_row > i.source_row""",  # noqa: S608 - own name
        ).fetchone()
    finally:
        con.unregister("leftover_ids")
    if later and later[0]:
        raise TypedReadRefused(
            f"{chunk.events.frame.get_column('source_uri')[0]}: an event id's first copy needs "
            "the normalizer and a later copy is plain"
        )
