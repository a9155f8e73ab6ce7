"""The one publisher of the lake: every table's Parquet files, streamed by DuckDB COPY.

Every file is written to a hidden temp file (or a staging folder), fsynced and renamed into
place, so a reader sees the old file or the new one, never half of one. Files are replaced, never
deleted (a day whose rows all went away gets empty files), so a query that already listed a file
can always open it.

- `publish_lake`: the event partitions the warehouse marked pending (`lake_pending`), the given
  part-file tables, then views.sql.
- `publish_tables` / `publish_table`: any table described by a `contracts.lake.LakeTable`:
  part-file tables by write-time ranges, partitioned tables by the partitions named, the others
  whole (the rollup tables: `contracts.rollup_tables.ROLLUP_LAKE_TABLES`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from contracts.lake import LakeTable
from etl.lake.files import (
    copy_parquet_atomically,
    epoch_us,
    part_files,
    place_file,
    sql_path,
    write_parquet_atomically,
    write_text_atomically,
)
from etl.lake.views import views_sql
from etl.sqlfiles import SqlFolder

_SQL = SqlFolder("etl.lake")
_PENDING_DAYS = _SQL.text("pending_days")
_PENDING_REWRITE = _SQL.text("pending_rewrite")
_PENDING_CLEAR = _SQL.text("pending_clear")
_EVENTS_OF_DAYS = _SQL.text("events_of_days")
_EVENTS_OF_RANGE = _SQL.text("events_of_range")
_EVENTS_APPENDED = _SQL.text("events_appended")
_EVENTS_EMPTY = _SQL.text("events_empty")

PARTITION_ROW_GROUP = 20_000
"""Rows per Parquet row group in the event partitions (a month of 1M FOCUS events: 4.6 s and
the writer's whole 1 GB with DuckDB's default, 2.7 s with this; 10M events 11.7 -> 10.5 s,
files 1% larger)."""

EVENTS_TABLE = "meter_events"
"""The event table, published by the days `lake_pending` names."""


def publish_lake(
    con: Any, lake: Path, tables: Iterable[LakeTable], catalog: Sequence[LakeTable]
) -> list[Path]:
    """Publish the read path inside the writer connection `con`: the event partitions loads
    marked pending (new part files for days that only gained rows, whole partitions for days
    that lost some), the part-file `tables`, then views.sql over `catalog` (every warehouse
    table of the lake) and the rollup tables.

    The pending marks are cleared only after the files are in place, so a crash in between is
    repaired by the next publish.
    """
    written: list[Path] = []
    pending = con.execute(_PENDING_DAYS).fetchall()
    rewrite = {d for d, whole, _ in pending if whole}
    appended = {d: since for d, whole, since in pending if not whole}
    days = sorted(d for d, _, _ in pending)
    if appended:
        con.execute(_PENDING_REWRITE)
    written += _publish_event_days(con, lake, sorted(rewrite), appended)
    written += publish_tables(con, lake, tables)
    write_text_atomically(views_sql(lake, catalog), lake / "views.sql")
    if days:
        con.execute(_PENDING_CLEAR, [days])
    return written


def publish_tables(
    con: Any,
    lake: Path,
    tables: Iterable[LakeTable],
    partitions: Mapping[str, Iterable[date]] | None = None,
) -> list[Path]:
    """`publish_table` for each of `tables`; `partitions` names, per partitioned table, the
    partition values to rewrite."""
    partitions = partitions or {}
    written: list[Path] = []
    for table in tables:
        written += publish_table(con, lake, table, partitions.get(table.name, ()))
    return written


def publish_table(
    con: Any, lake: Path, table: LakeTable, partitions: Iterable[date] = ()
) -> list[Path]:
    """Bring one table's lake folder up to date from the warehouse connection `con`.

    A partitioned table gets the files of `partitions` written anew; a part-file table (one
    with `written_at`) what changed since its last publish; any other table one file, anew.
    DuckDB streams each file (COPY), so no table is ever held whole in memory.
    """
    folder = lake / table.name
    if table.partition:
        key = table.partition_key or table.partition
        # A partition column of the table is left out: the folder name holds it.
        columns = "*" if table.partition_key else f"* EXCLUDE ({table.partition})"
        select = f"SELECT {columns} FROM {table.name} WHERE {key} = ?{_order_by(table)}"  # noqa: S608 - names from the table's contract
        return [
            copy_parquet_atomically(
                con,
                select,
                [value],
                folder / f"{table.partition}={value.isoformat()}" / "part-0.parquet",
            )
            for value in sorted(set(partitions))
        ]
    if table.written_at:
        return _publish_by_write_time(con, folder, table, table.written_at)
    select = f"SELECT * FROM {table.name}{_order_by(table)}"  # noqa: S608 - names from the table's contract
    return [copy_parquet_atomically(con, select, [], folder / "part-0.parquet")]


def _order_by(table: LakeTable) -> str:
    return f" ORDER BY {table.order}" if table.order else ""


def _publish_by_write_time(con: Any, folder: Path, table: LakeTable, written_at: str) -> list[Path]:
    """Like a day's partition: nothing if unchanged, one more part file with the rows written
    since the newest published one if rows were only added, else every file anew by its
    write-time range."""
    name = table.name
    files = part_files(folder)
    lake_rows, lake_newest = (
        con.execute(
            f"SELECT count(*), max({written_at}) FROM read_parquet(?::VARCHAR[])",  # noqa: S608 - names from the table's contract
            [[str(path) for _, path in files]],
        ).fetchone()
        if files
        else (0, None)
    )
    rows, newer = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {written_at} > ?) FROM {name}",  # noqa: S608 - names from the table's contract
        [lake_newest],
    ).fetchone()
    if files and rows == lake_rows and not newer:
        return []
    if table.append_only and lake_newest is not None and newer and rows - newer == lake_rows:
        stamp = epoch_us(lake_newest) + 1
        files = [(stamp, folder / f"part-{stamp}.parquet")]
    elif not files:
        files = [(0, folder / "part-0.parquet")]
    stamps = [stamp for stamp, _ in files]
    written = []
    for i, (stamp, final) in enumerate(files):
        upper = stamps[i + 1] if i + 1 < len(stamps) else None
        select = (
            f"SELECT * FROM {name} WHERE epoch_us({written_at}) >= ? "  # noqa: S608 - names from the table's contract
            f"AND (? IS NULL OR epoch_us({written_at}) < ?){_order_by(table)}"
        )
        written.append(copy_parquet_atomically(con, select, [stamp, upper, upper], final))
    return written


# The event partitions: `part-0.parquet` plus one `part-<µs>.parquet` per load that only added
# rows to the day; part-<t> holds the rows ingested from t until the next file's t, so a day is
# rewritten file by file and a reader never sees a row twice.


def _staging(lake: Path) -> Path:
    """The folder beside the lake that partitioned COPYs write to before files move in."""
    return lake.parent / f".{lake.name}-staging-{os.getpid()}"


def _copy_partitions(con: Any, lake: Path, select: str, params: list[Any]) -> Path:
    """One partitioned COPY of `select` (rows with their event_date) into a fresh staging
    folder beside the lake; returns the folder (the caller moves files out, then drops it)."""
    staging = _staging(lake)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # The target is our own staging folder, never a value from data. Rows keep the order
    # they were loaded in: sorting them by time cost a full external sort of the published
    # rows (40 of 176 s for 10M events), and a day is the unit every reader prunes by. Row
    # groups of PARTITION_ROW_GROUP rows: DuckDB buffers one per open day file, and within
    # the writer's 1 GB its default (122,880 rows) made a month's COPY spill and stall.
    con.execute(
        f"COPY ({select}) TO "  # noqa: S608 - own staging path, fixed SQL
        + sql_path(staging)
        + " (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd, "
        + f"ROW_GROUP_SIZE {PARTITION_ROW_GROUP})",
        params,
    )
    return staging


def _place(staging: Path, day: date, final: Path) -> Path | None:
    """Move the file the COPY wrote for `day` to `final` (fsync + rename), if it wrote one."""
    produced = sorted((staging / f"event_date={day.isoformat()}").glob("*.parquet"))
    return place_file(produced[0], final) if produced else None


def _empty_partition(con: Any, final: Path) -> Path:
    # Every row of the file's range went away: an empty file, never a deleted one.
    return write_parquet_atomically(con.execute(_EVENTS_EMPTY).to_arrow_table(), final)


def _publish_event_days(
    con: Any, lake: Path, rewrite: Sequence[date], appended: dict[date, datetime]
) -> list[Path]:
    """Write the event partitions of `rewrite` days anew and add one part file to each
    `appended` day, with one partitioned COPY per kind into a staging folder, each file then
    moved into place (fsync + rename: all or nothing per file)."""
    base = lake / EVENTS_TABLE
    written: list[Path] = []
    files = {
        day: part_files(base / f"event_date={day.isoformat()}") for day in {*rewrite, *appended}
    }
    # Days the lake does not hold yet are written whole, like rewritten ones.
    whole = sorted(d for d in {*rewrite, *appended} if d in rewrite or not files[d])
    single = [d for d in whole if len(files[d]) <= 1]
    split = [d for d in whole if len(files[d]) > 1]
    add = sorted(d for d in appended if d not in rewrite and files[d])
    try:
        if single:
            days = pl.DataFrame({"event_date": single}, schema={"event_date": pl.Date})
            con.register("publish_days", days.to_arrow())
            staging = _copy_partitions(con, lake, _EVENTS_OF_DAYS, [])
            con.unregister("publish_days")
            for day in single:
                final = base / f"event_date={day.isoformat()}" / "part-0.parquet"
                written.append(_place(staging, day, final) or _empty_partition(con, final))
        for day in split:
            stamps = [stamp for stamp, _ in files[day]]
            for i, (stamp, final) in enumerate(files[day]):
                upper = stamps[i + 1] if i + 1 < len(stamps) else None
                staging = _copy_partitions(con, lake, _EVENTS_OF_RANGE, [day, stamp, upper, upper])
                written.append(_place(staging, day, final) or _empty_partition(con, final))
        if add:
            frame = pl.DataFrame(
                {"event_date": add, "since": [appended[d] for d in add]},
                schema={"event_date": pl.Date, "since": pl.Datetime("us", "UTC")},
            )
            con.register("publish_appends", frame.to_arrow())
            staging = _copy_partitions(con, lake, _EVENTS_APPENDED, [])
            con.unregister("publish_appends")
            for day in add:
                name = f"part-{epoch_us(appended[day])}.parquet"
                placed = _place(staging, day, base / f"event_date={day.isoformat()}" / name)
                if placed is not None:
                    written.append(placed)
    finally:
        shutil.rmtree(_staging(lake), ignore_errors=True)
    return written
