"""Atomic lake files: whatever is written appears whole under its final name or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """A hidden temp path beside `final`: whatever is written there is fsynced and renamed to
    `final` when the block ends (a reader sees the old file or the new one, never half)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_parquet_atomically(table: Any, final: Path) -> Path:
    """Write an Arrow table to `final` as zstd Parquet, atomically; returns `final`."""
    import pyarrow.parquet as pq

    with atomic_file(final) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return final


def copy_parquet_atomically(con: Any, select: str, params: list[Any], final: Path) -> Path:
    """`write_parquet_atomically` for a query DuckDB streams to the file (never held whole)."""
    with atomic_file(final) as tmp:
        # The target is our own temp path beside the lake, never a value from data.
        with unordered(con):
            con.execute(
                f"COPY ({select}) TO {sql_path(tmp)} (FORMAT parquet, COMPRESSION zstd)",  # noqa: S608 - own temp path, fixed SQL
                params,
            )
    return final


@contextlib.contextmanager
def unordered(con: Any) -> Iterator[None]:
    """DuckDB statements in the block write rows in the order of their ORDER BY, else as its
    threads produce them. Keeping the order a query reads rows in makes DuckDB buffer row
    groups across threads: within the writer's 1 GB, a million FOCUS line items take 4.6
    instead of 1.9 s to COPY to Parquet, and ten 1M-event files' merges 17.5 instead of 14.4 s
    to INSERT. For writes whose row order nothing reads (a table's rows, a lake file's),
    never for a table whose rowid is a place in a file."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("RESET preserve_insertion_order")


def write_text_atomically(text: str, final: Path) -> None:
    """Write `text` to `final`, atomically."""
    with atomic_file(final) as tmp:
        tmp.write_text(text)


def place_file(produced: Path, final: Path) -> Path:
    """Move a finished file (one a COPY wrote into a staging folder) to `final`: fsync, then
    rename, so `final` is the old file or the new one, never half."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(produced, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(produced, final)
    return final


def sql_path(path: Path) -> str:
    """A path as a SQL string literal.

    Only for paths from configuration (the lake folder) or our own, never for values from files.
    """
    return "'" + str(path).replace("'", "''") + "'"


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch: the stamp in a part file's name."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def part_files(folder: Path) -> list[tuple[int, Path]]:
    """The part files of a lake folder (a day's partition, a small table) with the first
    ingest time (epoch µs) each holds: `part-0` from the beginning, `part-<µs>` from that
    time on, in order."""
    out = []
    for path in folder.glob("part-*.parquet"):
        stamp = path.stem.removeprefix("part-")
        if stamp.isdigit():
            out.append((int(stamp), path))
    return sorted(out)
