"""Opening the DuckDB file: the writer lock, read-write and read-only connections, and the one
`transaction()` every write runs in."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from etl.errors import MeterhouseError, RetryableError, TerminalError

if TYPE_CHECKING:
    import duckdb

    Connection: TypeAlias = duckdb.DuckDBPyConnection
else:
    Connection: TypeAlias = Any
"""A DuckDB connection to the warehouse file."""


class WarehouseMissing(TerminalError):
    """There is no warehouse file where one was expected (a reader never creates one)."""


class NotAWarehouse(TerminalError):
    """The path holds something that is not a DuckDB warehouse file (a folder, another file)."""


class DiskFull(RetryableError):
    """The disk under the warehouse or the lake is full. Retryable: the input is fine, and the
    same run succeeds once there is space (every file loads all or nothing, so nothing is
    half-loaded in the meantime)."""


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (an OSError, a DuckDB error, or one raised from either) is a full disk."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            return True
        if any(text in str(current).lower() for text in _DISK_FULL_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(exc: BaseException, path: Path) -> DiskFull:
    """The DiskFull error for `exc`, raised while writing the warehouse `path` or its lake."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DiskFull(
        f"disk full while writing warehouse {path} or its lake ({first}); free space or move "
        "the warehouse to a bigger disk, then run again: files load all or nothing, the "
        "failed ones are retried"
    )


@contextlib.contextmanager
def disk_full_errors(path: Path) -> Iterator[None]:
    """Turn a full disk under the block (an OSError or a DuckDB I/O error) into DiskFull."""
    try:
        yield
    except MeterhouseError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(exc, path) from exc
        raise


def missing_warehouse(path: Path) -> WarehouseMissing:
    """The error for a warehouse file that does not exist."""
    return WarehouseMissing(
        f"no warehouse at {path}; run `meterhouse ingest` first or check --warehouse / "
        "METERHOUSE_WAREHOUSE"
    )


def require_warehouse(path: Path) -> None:
    """Raise unless `path` is an existing file: a reader (and a writer that must not create
    the warehouse) fails at once on a mistyped path, creating nothing. Whether the file is a
    DuckDB database is checked when it is opened."""
    if path.is_dir():
        raise NotAWarehouse(
            f"{path} is a directory, not a DuckDB warehouse file; check --warehouse / "
            "METERHOUSE_WAREHOUSE"
        )
    if not path.exists():
        raise missing_warehouse(path)


def _open_error(exc: Exception, path: Path) -> TerminalError | None:
    """The clear error for a DuckDB failure to open `path` that waiting cannot fix, or None
    (a lock held by another process: worth waiting for)."""
    text = str(exc)
    if "not a valid DuckDB database file" in text or "Is a directory" in text:
        return NotAWarehouse(
            f"{path} is not a DuckDB warehouse file; check --warehouse / METERHOUSE_WAREHOUSE"
        )
    if "database does not exist" in text:
        return missing_warehouse(path)
    return None


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


# jemalloc's index for every arena (MALLCTL_ARENAS_ALL).
_ALL_ARENAS = 4096


@functools.cache
def _jemalloc_control() -> Callable[..., int] | None:
    """DuckDB's own jemalloc `mallctl`, where its build links jemalloc (Linux), else None."""
    try:
        import _duckdb

        return ctypes.CDLL(_duckdb.__file__).duckdb_je_mallctl
    except (ImportError, OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return to the OS the pages DuckDB has freed but its allocator still holds; True when
    they were purged, False without jemalloc (nothing to do).

    jemalloc keeps freed pages of DuckDB's threads for reuse; between the large statements of
    one file's load (its raw rows, its stage, the merge, the lake COPY) they add up to
    hundreds of MB of resident memory DuckDB no longer uses (its memory_limit does not count
    them). Purging every arena takes milliseconds."""
    control = _jemalloc_control()
    if control is None:
        return False
    return control(f"arena.{_ALL_ARENAS}.purge".encode(), None, None, None, ctypes.c_size_t(0)) == 0


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
            if is_disk_full(exc):
                raise disk_full(exc, path) from exc
            clear = _open_error(exc, path)
            if clear is not None:
                raise clear from exc
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise RetryableError(
                    f"warehouse {path} is locked by another process: {exc}"
                ) from exc
            time.sleep(0.2)


def connect_reader(path: Path, *, timeout_s: float = 30) -> Connection:
    """A read-only connection to an existing file: queries cannot modify the warehouse.

    A missing path, a folder or a file that is not a DuckDB database fails at once (and
    creates nothing); only a writer's lock is waited for, up to `timeout_s`.
    """
    import duckdb

    require_warehouse(path)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            con = duckdb.connect(
                str(path),
                read_only=True,
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:
            clear = _open_error(exc, path)
            if clear is not None:
                raise clear from exc
            if time.monotonic() > deadline:
                raise RetryableError(f"warehouse {path} stayed locked by a writer: {exc}") from exc
            time.sleep(0.2)


def scalar(con: Connection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of a query (None when it returns no row)."""
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row is not None else None
