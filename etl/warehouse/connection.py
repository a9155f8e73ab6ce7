"""Opening the DuckDB file: the writer lock, read-write and read-only connections, and the one
`transaction()` every write runs in."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from etl.errors import RetryableError

if TYPE_CHECKING:
    import duckdb

    Connection: TypeAlias = duckdb.DuckDBPyConnection
else:
    Connection: TypeAlias = Any
"""A DuckDB connection to the warehouse file."""


@contextlib.contextmanager
def transaction(con: Connection) -> Iterator[Connection]:
    """Run the block in one transaction: committed when it ends, rolled back if it raises.

    After an I/O failure (a full disk) DuckDB may already have aborted the transaction on its
    own; the rollback then fails with "no transaction is active", which is ignored so that the
    block's error is the one reported.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def writer_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold the warehouse's writer lock (a file lock beside it): one writer at a time across
    processes. Waits up to `timeout_s`, then raises RetryableError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise RetryableError(
                        f"another writer holds {lock_path} for over {timeout_s:.0f}s; retry later"
                    ) from exc
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def connect_writer(path: Path, *, memory_limit: str, timeout_s: float) -> Connection:
    """A read-write connection to the file (the caller holds the writer lock).

    A reader in another process (a SQL user on --live, another run's discovery) holds DuckDB's
    file lock briefly: waits for it up to `timeout_s`, as long as for another writer.
    """
    import duckdb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con = duckdb.connect(str(path))
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            # DuckDB spills beyond this instead of caching the warehouse in RAM.
            con.execute("SET memory_limit = ?", [memory_limit])
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise RetryableError(
                    f"warehouse {path} is locked by another process: {exc}"
                ) from exc
            time.sleep(0.2)


def connect_reader(path: Path, *, timeout_s: float = 30) -> Connection:
    """A read-only connection to an existing file: queries cannot modify the warehouse."""
    import duckdb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True)
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:
            if time.monotonic() > deadline:
                raise RetryableError(f"warehouse {path} stayed locked by a writer: {exc}") from exc
            time.sleep(0.2)


def scalar(con: Connection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of a query (None when it returns no row)."""
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row is not None else None
