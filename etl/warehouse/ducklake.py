"""The DuckLake backend: the warehouse's tables in a DuckLake (catalog in Postgres, Parquet data
files in S3 or a folder), opened by an in-memory DuckDB that attaches it as its default
database, so the same SQL the DuckDB file runs runs here.

What differs (docs/ducklake.md says why):
- DuckLake has no PRIMARY KEY / UNIQUE constraints: tables are created without them, and the
  writers keep keys unique (MERGE upserts, serialized commits).
- lake_pending is a temporary table: the DuckLake is its own read path, nothing is published.
- Writers serialize their load transactions (duplicate lookup + insert + commit) with a Postgres
  advisory lock on the catalog database (`commit_lock`); parsing and validation run in parallel.
  A commit conflict (a writer outside the lock, e.g. DDL) is retried (`serialized`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from contracts.rollup_tables import ROLLUP_TABLE_DDL
from etl.errors import RetryableError, TerminalError
from etl.settings import DuckLakeSettings
from etl.warehouse.connection import Connection, WarehouseMissing
from etl.warehouse.schema import SCHEMA_DDL
from etl.warehouse.sqlfiles import sql_statements

ATTACHED = "lake"
"""The name the DuckLake is attached under (and made the default database)."""

COMMIT_LOCK_KEY = 0x6D657465_72686F75  # "meterhou"
"""The Postgres advisory lock (one bigint) that serializes DuckLake writers' load transactions."""

_PENDING = sql_statements("lake_pending")
_TEMP_PENDING = sql_statements("ducklake_pending")
_COLUMN_KEY = re.compile(r"\s+PRIMARY KEY(?=\s*[,\n)])")
_TABLE_KEY = re.compile(r",\s*PRIMARY KEY\s*\([^)]*\)")

T = TypeVar("T")
log = logging.getLogger("etl.warehouse.ducklake")


def without_keys(ddl: str) -> str:
    """A CREATE TABLE statement without its PRIMARY KEY (DuckLake has no key constraints)."""
    return _TABLE_KEY.sub("", _COLUMN_KEY.sub("", ddl))


LAKE_EVENT_KEY_MACRO = "CREATE OR REPLACE TEMP MACRO event_key_of(id) AS md5(id)::UUID"
"""`event_key_of` on a DuckLake: the same MD5 as a UUID. DuckLake 1.5.5 writes UHUGEINT (and
HUGEINT) columns to Parquet through a double, losing all but 53 bits, so the DuckDB file's
UHUGEINT key would silently stop matching; a UUID is 16 bytes, stored exactly."""


def _lake_table(ddl: str) -> str:
    """A CREATE TABLE of the DuckDB file as a DuckLake creates it: no keys, a UUID event_key."""
    return without_keys(ddl).replace("event_key UHUGEINT", "event_key UUID")


LAKE_SCHEMA_DDL: tuple[str, ...] = tuple(
    _lake_table(ddl) for ddl in (*SCHEMA_DDL, *ROLLUP_TABLE_DDL) if ddl not in _PENDING
)
"""The warehouse's tables as DuckLake creates them: the DuckDB file's, without keys, with a
UUID event_key, without lake_pending (a temporary table per connection); and the rating and
rollup tables (rollup_state without its key), so that rating's own `CREATE TABLE IF NOT EXISTS`
(with the key the DuckDB file keeps) finds them and does nothing."""


def _literal(value: str) -> str:
    """`value` as a SQL string literal. Only for configuration that ATTACH cannot take as a
    parameter (the catalog's connection string and the data path), never for data."""
    if "\x00" in value:
        raise TerminalError("a DuckLake setting holds a NUL character; fix the variable")
    return "'" + value.replace("'", "''") + "'"


def extension_file(name: str) -> Path:
    """The extension `name` as its PyPI wheel (duckdb-extension-<name>) installed it."""
    import duckdb

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise TerminalError(
            f"the DuckDB extension {name} is not installed: `pip install "
            f"duckdb-extension-{name}=={duckdb.__version__}` (make install does)"
        )
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    return path / f"{name}.duckdb_extension"


def postgres_extension() -> Path:
    """The postgres extension under the name its entry point has (postgres_scanner): DuckDB
    derives the entry point from the file name, and the wheel ships it as postgres."""
    target = extension_file("postgres")
    folder = Path(tempfile.gettempdir()) / f"meterhouse-duckdb-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    link = folder / "postgres_scanner.duckdb_extension"
    if not link.is_symlink() or link.resolve() != target.resolve():
        staged = folder / f".postgres_scanner.{os.getpid()}"
        staged.unlink(missing_ok=True)
        staged.symlink_to(target)
        staged.replace(link)  # atomic: concurrent writers never see a half-made link
    return link


def _configure_s3(con: Connection, lake: DuckLakeSettings) -> None:
    """httpfs and the S3 API for an s3:// data path (settings, bound as parameters)."""
    con.execute(f"LOAD {_literal(str(extension_file('httpfs')))}")
    con.execute("SET s3_region = ?", [lake.s3_region])
    if lake.s3_endpoint_url:
        url = urlsplit(lake.s3_endpoint_url)
        con.execute("SET s3_endpoint = ?", [url.netloc or url.path])
        con.execute("SET s3_use_ssl = ?", [url.scheme != "http"])
        con.execute("SET s3_url_style = 'path'")
    if lake.s3_access_key_id:
        con.execute("SET s3_access_key_id = ?", [lake.s3_access_key_id])
        con.execute("SET s3_secret_access_key = ?", [lake.s3_secret_access_key or ""])
    if lake.s3_session_token:
        con.execute("SET s3_session_token = ?", [lake.s3_session_token])


def connect_lake(
    lake: DuckLakeSettings, *, read_only: bool = False, memory_limit: str = "1GB"
) -> Connection:
    """An in-memory DuckDB with the DuckLake attached as its default database.

    A writer creates the DuckLake on first use (under the commit lock, so concurrent first
    writers do not race); a reader (`read_only`) never does, and fails with WarehouseMissing
    when there is none yet.
    """
    import duckdb

    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET memory_limit = ?", [memory_limit])
        con.execute(f"LOAD {_literal(str(extension_file('ducklake')))}")
        con.execute(f"LOAD {_literal(str(postgres_extension()))}")
        if lake.data_path.startswith("s3://"):
            _configure_s3(con, lake)
        else:
            Path(lake.data_path).mkdir(parents=True, exist_ok=True)
        options = f"DATA_PATH {_literal(lake.data_path)}"
        if read_only:
            options += ", READ_ONLY"
        attach = f"ATTACH {_literal('ducklake:postgres:' + lake.catalog)} AS {ATTACHED} ({options})"
        try:
            if read_only:
                con.execute(attach)
            else:
                with commit_lock(lake):
                    con.execute(attach)
        except duckdb.Error as exc:
            text = str(exc)
            if "does not exist" in text and "creating a new DuckLake" in text:
                raise WarehouseMissing(
                    "no DuckLake in the catalog of METERHOUSE_DUCKLAKE_CATALOG yet; run "
                    "`meterhouse ingest` first"
                ) from exc
            if "Unable to connect to Postgres" in text:
                raise RetryableError(
                    "cannot reach the DuckLake catalog (METERHOUSE_DUCKLAKE_CATALOG): "
                    f"{text.splitlines()[0][-200:]}"
                ) from exc
            raise
        con.execute(f"USE {ATTACHED}")
        return con
    except BaseException:
        con.close()
        raise


def ensure_lake_schema(con: Connection, lake: DuckLakeSettings) -> None:
    """Create the warehouse's tables in the DuckLake (idempotent; under the commit lock, since
    DDL from two writers at once conflicts) and this connection's lake_pending."""
    con.execute(LAKE_EVENT_KEY_MACRO)
    with commit_lock(lake):
        for ddl in LAKE_SCHEMA_DDL:
            con.execute(ddl)
    for ddl in _TEMP_PENDING:
        con.execute(ddl)


@contextlib.contextmanager
def commit_lock(lake: DuckLakeSettings) -> Iterator[None]:
    """Hold the writers' advisory lock on the catalog database.

    Session-level: a writer that dies (SIGKILL included) loses its Postgres session and with
    it the lock, and its DuckLake transaction never committed, so nothing is half-written.
    Waits up to the lock timeout, then raises RetryableError.
    """
    import psycopg

    try:
        pg = psycopg.connect(lake.catalog, autocommit=True, connect_timeout=30)
    except psycopg.OperationalError as exc:
        raise RetryableError(
            f"cannot reach the DuckLake catalog (METERHOUSE_DUCKLAKE_CATALOG): {exc}"
        ) from exc
    with pg:
        pg.execute("SELECT set_config('lock_timeout', %s, false)", [f"{lake.lock_timeout_s}s"])
        asked = time.perf_counter()
        try:
            pg.execute("SELECT pg_advisory_lock(%s)", [COMMIT_LOCK_KEY])
        except psycopg.errors.LockNotAvailable as exc:
            raise RetryableError(
                f"another DuckLake writer held the commit lock for over "
                f"{lake.lock_timeout_s:.0f}s; retry later"
            ) from exc
        taken = time.perf_counter()
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                pg.execute("SELECT pg_advisory_unlock(%s)", [COMMIT_LOCK_KEY])
            # The serialized section's cost, for operators and the benchmark (bench/ducklake.py).
            log.debug(
                "step=commit_lock waited_s=%.3f held_s=%.3f",
                taken - asked,
                time.perf_counter() - taken,
            )


def is_commit_conflict(exc: BaseException) -> bool:
    """Whether `exc` is DuckLake refusing a commit because another writer changed the same
    data first (worth running the transaction again on the new snapshot)."""
    import duckdb

    return isinstance(exc, duckdb.Error) and "conflict" in str(exc).lower()


def serialized(
    lake: DuckLakeSettings,
    load: Callable[[], T],
    *,
    attempts: int = 8,
    wait_s: float = 0.1,
    replayable: bool = True,
) -> T:
    """Run `load` (one or more whole transactions) under the commit lock; a commit conflict runs
    it again, up to `attempts` times with a growing wait. Loads replace a file's rows, so running
    one again is safe. A `load` that cannot be run again (it consumes a stream) is not retried:
    its conflict is a RetryableError, and the file is retried by the next run."""
    for attempt in range(1, attempts + 1):
        try:
            with commit_lock(lake):
                return load()
        except Exception as exc:
            if not is_commit_conflict(exc):
                raise
            if not replayable or attempt == attempts:
                raise RetryableError(
                    f"DuckLake commit conflict after {attempt} attempt(s): "
                    f"{str(exc).splitlines()[0]}; the file is retried by the next run"
                ) from exc
            time.sleep(wait_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def readable_paths(lake: DuckLakeSettings) -> list[str]:
    """What a locked-down reader of the DuckLake may read: its data path (a folder or an
    s3://bucket/prefix), nothing else."""
    return [lake.data_path.rstrip("/")]
