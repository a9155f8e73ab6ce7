"""The only module that speaks SQL to DuckDB: schema, per-file transactional loads, ledger, lake."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from contracts.meter_event import EVENT_COLUMNS, REJECT_COLUMNS, MeterEvent
from contracts.status import SourceStatus
from etl.errors import RetryableError

log = logging.getLogger(__name__)


def _duck_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.List):
        return "MAP(VARCHAR, VARCHAR)"
    if dtype == pl.Int64:
        return "BIGINT"
    return "VARCHAR"


# The canonical event columns as the MeterEvent contract defines them (types and nullability),
# plus the load's timestamp.
_EVENT_COLUMNS_DDL = ",\n".join(
    [
        f"    {name} {_duck_type(column.dtype.type)}{'' if column.nullable else ' NOT NULL'}"
        for name, column in MeterEvent.to_schema().columns.items()
    ]
    + ["    ingested_at TIMESTAMPTZ NOT NULL"]
)

SCHEMA_DDL: tuple[str, ...] = (
    # Event dates whose lake partition must be published: filled in the same transaction as
    # the load that touched them, emptied only after the files are in place, so a crash
    # between the two is repaired by the next publish. A day whose rows were only added since
    # `appended_since` gets one more part file; a day that lost or changed rows (`rewrite`)
    # has its files written anew.
    "CREATE TABLE IF NOT EXISTS lake_pending (event_date DATE PRIMARY KEY)",
    "ALTER TABLE lake_pending ADD COLUMN IF NOT EXISTS rewrite BOOLEAN DEFAULT true",
    "ALTER TABLE lake_pending ADD COLUMN IF NOT EXISTS appended_since TIMESTAMPTZ",
    # event_key: the duplicate lookup's key (EVENT_KEY), kept beside the row so the
    # lookup reads one fixed-width column instead of every stored event_id string.
    f"CREATE TABLE IF NOT EXISTS meter_events ({_EVENT_COLUMNS_DDL},\n    event_key UHUGEINT)",
    # Copies of an event_id already stored (a retry re-sent in another file, or twice in one
    # file). Kept whole so that, if the stored copy's file is replaced without it, the next
    # copy is promoted instead of the event being lost.
    f"CREATE TABLE IF NOT EXISTS duplicate_events ({_EVENT_COLUMNS_DDL}, duplicate_of_uri VARCHAR NOT NULL)",
    """CREATE TABLE IF NOT EXISTS rejected_rows (
        source_uri  VARCHAR NOT NULL,
        source_row  BIGINT,
        column_name VARCHAR,
        rule        VARCHAR NOT NULL,
        reason      VARCHAR NOT NULL,
        raw_record  VARCHAR,
        rejected_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS ingest_ledger (
        source_uri      VARCHAR PRIMARY KEY,
        source_key      VARCHAR NOT NULL,
        etag            VARCHAR NOT NULL,
        size_bytes      BIGINT NOT NULL,
        checksum_sha256 VARCHAR,
        last_modified   TIMESTAMPTZ,
        source_format   VARCHAR,
        status          VARCHAR NOT NULL,
        rows_in         BIGINT NOT NULL DEFAULT 0,
        events_loaded   BIGINT NOT NULL DEFAULT 0,
        duplicates      BIGINT NOT NULL DEFAULT 0,
        rejected        BIGINT NOT NULL DEFAULT 0,
        superseded      BIGINT NOT NULL DEFAULT 0,
        error           VARCHAR,
        attempts        INTEGER NOT NULL DEFAULT 1,
        first_seen_at   TIMESTAMPTZ NOT NULL,
        loaded_at       TIMESTAMPTZ NOT NULL
    )""",
)


# The key an event_id is looked up by across files: its 128-bit MD5 as one number (computed
# by DuckDB, so the stored and the incoming side agree). Two different ids share a key with
# probability 2^-128 per pair, far below any other failure; only a producer crafting
# colliding ids could cause one, and a producer can drop its rows anyway.
EVENT_KEY = "md5_number(event_id)"


def _as_map_input(
    frame: pl.DataFrame, columns: Sequence[str]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """`frame` with each of `columns` (lists of key/value structs) in the form DuckDB turns into
    a MAP fastest, and per column the SQL expression that does it.

    DuckDB builds a MAP from JSON object text about four times faster than `map_from_entries`
    builds it from a list of structs (1.2 s less per 1M rows of five dimensions, measured).
    The text is written here without escaping, so it is used only where that is exact: no key
    or value is null or holds a quote, a backslash or a control character (each entry then
    adds exactly four quotes). Any other column goes as it is, through `map_from_entries`.
    """
    key, value = pl.element().struct.field("key"), pl.element().struct.field("value")
    entry = pl.concat_str(pl.lit('"'), key, pl.lit('":"'), value, pl.lit('"'))
    sql: dict[str, str] = {}
    for name in columns:
        text = pl.concat_str(pl.lit("{"), pl.col(name).list.eval(entry).list.join(","), pl.lit("}"))
        checked = frame.select(text.alias("text"), (4 * pl.col(name).list.len()).alias("quotes"))
        exact = checked.select(
            (pl.col("text").str.count_matches('"', literal=True) == pl.col("quotes")).all(),
            pl.col("text").str.contains(r"[\\\x00-\x1f]").not_().all().alias("plain"),
        ).row(0)
        if all(exact):
            frame = frame.with_columns(checked.get_column("text").alias(name))
            sql[name] = f"""json_transform_strict("{name}", '"MAP(VARCHAR, VARCHAR)"')"""
        else:
            sql[name] = f'map_from_entries("{name}")'
    return frame, sql


# Private tables a large file's chunks are staged in (dropped once it is loaded or fails).
STAGE_PREFIX = "_meterhouse_stage_"

# The ledger columns a load or a failure writes (the rest keep their defaults or counters).
LEDGER_UPSERT_SCHEMA = pl.Schema(
    {
        "source_uri": pl.String(),
        "source_key": pl.String(),
        "etag": pl.String(),
        "size_bytes": pl.Int64(),
        "checksum_sha256": pl.String(),
        "last_modified": pl.Datetime("us", "UTC"),
        "source_format": pl.String(),
        "status": pl.String(),
        "rows_in": pl.Int64(),
        "events_loaded": pl.Int64(),
        "duplicates": pl.Int64(),
        "rejected": pl.Int64(),
        "error": pl.String(),
        "first_seen_at": pl.Datetime("us", "UTC"),
        "loaded_at": pl.Datetime("us", "UTC"),
    }
)


def _focus_ddl() -> str:
    from contracts.focus import FOCUS_LINE_ITEM_SCHEMA

    cols = ",\n    ".join(
        f'"{name}" {_duck_type(dtype)}' for name, dtype in FOCUS_LINE_ITEM_SCHEMA.items()
    )
    # FOCUS rows keep their specification column names, so FinOps queries run unchanged.
    return (
        f"CREATE TABLE IF NOT EXISTS focus_line_items (\n    {cols},\n    delivery_key VARCHAR NOT NULL,\n"
        "    event_id VARCHAR,\n    ingested_at TIMESTAMPTZ NOT NULL\n)"
    )


# Tables SQL users read from the lake besides meter_events, with their sort order.
PUBLISHED_TABLES: dict[str, str] = {
    "ingest_ledger": "source_uri",
    "rejected_rows": "source_uri, source_row",
    "duplicate_events": "source_uri, source_row",
    "focus_line_items": "source_uri, source_row",
}
# When each row was written: a load stamps its rows with its start time, so rows newer than
# the lake's newest are the ones appended since the last publish. The ledger's rows change
# in place (counters, status), so it is always written whole.
_TABLE_TIME: dict[str, str] = {
    "ingest_ledger": "loaded_at",
    "rejected_rows": "rejected_at",
    "duplicate_events": "ingested_at",
    "focus_line_items": "ingested_at",
}


@contextlib.contextmanager
def _atomic_file(final: Path) -> Iterator[Path]:
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


def _write_parquet_atomically(table: Any, final: Path) -> Path:
    import pyarrow.parquet as pq

    with _atomic_file(final) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return final


def _copy_parquet_atomically(con: Any, select: str, params: list[Any], final: Path) -> Path:
    """`_write_parquet_atomically` for a query DuckDB streams to the file (never held whole)."""
    with _atomic_file(final) as tmp:
        # The target is our own temp path beside the lake, never a value from data.
        con.execute(
            f"COPY ({select}) TO {_sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)",  # noqa: S608 - own temp path, fixed SQL
            params,
        )
    return final


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _part_files(folder: Path) -> list[tuple[int, Path]]:
    """The part files of a lake folder (a day's partition, a small table) with the first
    ingest time (epoch µs) each holds: `part-0` from the beginning, `part-<µs>` from that
    time on, in order."""
    out = []
    for path in folder.glob("part-*.parquet"):
        stamp = path.stem.removeprefix("part-")
        if stamp.isdigit():
            out.append((int(stamp), path))
    return sorted(out)


def _date_frame(days: Sequence[date]) -> pl.DataFrame:
    return pl.DataFrame({"event_date": days}, schema={"event_date": pl.Date})


def _write_text_atomically(text: str, final: Path) -> None:
    with _atomic_file(final) as tmp:
        tmp.write_text(text)


def _sql_literal(text: str) -> str:
    # Only for paths from configuration (the lake folder), never for values from files.
    return "'" + text.replace("'", "''") + "'"


def read_views_sql(lake: Path) -> str:
    """Views over the Parquet lake: what `meterhouse sql` and the DuckDB CLI query.

    Usable from the DuckDB CLI as `duckdb -init <lake>/views.sql` (or `.read <lake>/views.sql`).
    """
    lake = lake.resolve()
    events_glob = _sql_literal(str(lake / "meter_events" / "event_date=*" / "*.parquet"))
    columns = ", ".join(EVENT_COLUMNS + ["ingested_at"])
    lines = ["SET TimeZone = 'UTC';"]
    if any((lake / "meter_events").glob("event_date=*/*.parquet")):
        lines.append(
            f"CREATE OR REPLACE VIEW meter_events AS SELECT {columns} FROM read_parquet({events_glob}, "  # noqa: S608 - configured path, fixed names
            "hive_partitioning = true, hive_types = {'event_date': DATE});"
        )
    else:
        lines.append(f"CREATE OR REPLACE TABLE meter_events ({_EVENT_COLUMNS_DDL});")
    for name in PUBLISHED_TABLES:
        if _part_files(lake / name):
            files = _sql_literal(str(lake / name / "part-*.parquet"))
            lines.append(
                f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({files});"  # noqa: S608 - configured path, fixed names
            )
    from etl.costs.publish import rollup_views_sql  # cost rollups and their views (docs/rating.md)

    lines += rollup_views_sql(lake)
    return "\n".join(lines) + "\n"


def _empty_views_sql() -> str:
    tables = [
        ddl + ";"
        for ddl in SCHEMA_DDL
        if any(f"EXISTS {name} (" in ddl for name in ("meter_events", *PUBLISHED_TABLES))
    ]
    tables.append(_focus_ddl() + ";")
    from etl.costs.publish import rollup_views_sql

    tables += rollup_views_sql(None)
    return "\n".join(tables) + "\n"


# Ledger statuses. `error` is retryable and is picked up again by the next discovery.
LOADED, EMPTY, FAILED, ERROR = (
    SourceStatus.LOADED.value,
    SourceStatus.EMPTY.value,
    SourceStatus.FAILED.value,
    SourceStatus.ERROR.value,
)


@dataclass(frozen=True)
class LedgerEntry:
    """What the warehouse remembers of one source object."""

    source_uri: str
    etag: str
    size_bytes: int
    checksum_sha256: str | None
    status: str


@dataclass(frozen=True)
class SourceLoad:
    """Everything one source file contributes, loaded in one transaction."""

    source_uri: str
    source_key: str
    etag: str
    size_bytes: int
    checksum_sha256: str
    last_modified: datetime
    source_format: str | None
    rows_in: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    # FOCUS files only: the typed line items (aligned with events by source_row) and the
    # export they belong to, whose billing periods a newer delivery replaces.
    focus_line_items: pl.DataFrame | None = None
    delivery_key: str | None = None
    delivery_window_s: int = 3600


@dataclass(frozen=True)
class Chunk:
    """One slice of a large file: its rows read, valid events and rejects."""

    rows_in: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    focus_line_items: pl.DataFrame | None = None  # FOCUS files: the chunk's line items


@dataclass(frozen=True)
class LoadResult:
    """Counts of one file's load; rows_in == events_loaded + duplicates + rejected."""

    source_uri: str
    status: str
    rows_in: int
    events_loaded: int
    duplicates: int
    rejected: int
    touched_dates: frozenset[date]


def _rollback_quietly(con: Any) -> None:
    # After an I/O failure (a full disk) DuckDB may already have aborted the transaction;
    # the original error is the one worth reporting, not "no transaction is active".
    with contextlib.suppress(Exception):
        con.execute("ROLLBACK")


def _add_event_keys(con: Any) -> None:
    """A warehouse written before meter_events had its lookup key gets it, once."""
    if con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'meter_events' "
        "AND column_name = 'event_key'"
    ).fetchone()[0]:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("ALTER TABLE meter_events ADD COLUMN event_key UHUGEINT")
        con.execute(f"UPDATE meter_events SET event_key = {EVENT_KEY}")  # noqa: S608 - fixed SQL
        con.execute("COMMIT")
    except BaseException:
        _rollback_quietly(con)
        raise


def _now() -> datetime:
    return datetime.now(tz=UTC)


class Warehouse:
    """A DuckDB warehouse file plus its Parquet lake. One writer at a time."""

    def __init__(
        self,
        path: Path,
        lake: Path,
        *,
        lock_timeout_s: float = 600.0,
        dedup_window_days: int = 31,
        memory_limit: str = "1GB",
    ) -> None:
        self.path = Path(path)
        self.lake = Path(lake)
        self.lock_timeout_s = lock_timeout_s
        self.dedup_window_days = dedup_window_days
        self.memory_limit = memory_limit
        self._con: Any = None

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as handle:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() > deadline:
                        raise RetryableError(
                            f"another writer holds {lock_path} for over {self.lock_timeout_s:.0f}s; retry later"
                        ) from exc
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def writer(self) -> Iterator[Any]:
        """A short-lived read-write connection, held under the writer lock.

        Re-entrant: inside an open writer (a batch), loads share its connection while each
        file still commits on its own.
        """
        import duckdb

        if self._con is not None:
            yield self._con
            return
        with self._writer_lock():
            # A reader in another process (a SQL user on --live, another run's discovery)
            # holds DuckDB's file lock briefly: wait for it as long as for another writer.
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    con = duckdb.connect(str(self.path))
                    con.execute("SET TimeZone = 'UTC'")
                    con.execute("SET enable_progress_bar = false")
                    # DuckDB spills beyond this instead of caching the warehouse in RAM.
                    con.execute("SET memory_limit = ?", [self.memory_limit])
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise RetryableError(
                            f"warehouse {self.path} is locked by another process: {exc}"
                        ) from exc
                    time.sleep(0.2)
            try:
                for ddl in (*SCHEMA_DDL, _focus_ddl()):
                    con.execute(ddl)
                _add_event_keys(con)
                self._drop_stages(con)
                self._con = con
                yield con
            finally:
                self._con = None
                con.close()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Any]:
        """A read-only connection: queries cannot modify the warehouse."""
        import duckdb

        if self._con is not None:
            yield self._con
            return
        if not self.path.exists():
            with self.writer():
                pass
        deadline = time.monotonic() + 30
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=True)
                con.execute("SET TimeZone = 'UTC'")
                break
            except duckdb.IOException as exc:
                if time.monotonic() > deadline:
                    raise RetryableError(
                        f"warehouse {self.path} stayed locked by a writer: {exc}"
                    ) from exc
                time.sleep(0.2)
        try:
            yield con
        finally:
            con.close()

    # -- ledger ------------------------------------------------------------------------

    def ledger(self, uris: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
        """Ledger rows, for the given URIs or all."""
        with self.reader() as con:
            if uris is None:
                rows = con.execute(
                    "SELECT source_uri, etag, size_bytes, checksum_sha256, status FROM ingest_ledger"
                ).fetchall()
            else:
                wanted = pl.DataFrame({"source_uri": list(uris)}, schema={"source_uri": pl.Utf8})
                con.register("wanted_uris", wanted.to_arrow())
                rows = con.execute(
                    "SELECT l.source_uri, l.etag, l.size_bytes, l.checksum_sha256, l.status "
                    "FROM ingest_ledger l JOIN wanted_uris w USING (source_uri)"
                ).fetchall()
        return {r[0]: LedgerEntry(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows}

    def record_failure(
        self,
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
    ) -> frozenset[date]:
        """Mark a file failed. Its earlier rows (if any) are removed in the same transaction:
        a file that can no longer be read must not keep contributing stale rows."""
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                touched = self._remove_source(con, source_uri) | self._promote_orphaned_duplicates(
                    con, source_uri
                )
                self._upsert_ledger(
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
                )
                self._mark_lake_pending(con, rewrite=touched)
                con.execute("COMMIT")
            except BaseException:
                _rollback_quietly(con)
                raise
        return touched

    # -- loading -----------------------------------------------------------------------

    def replace_source_rows(self, load: SourceLoad) -> LoadResult:
        """Validate-then-replace one file's rows and write its ledger row, atomically.

        The file's previous rows, duplicates and rejects are deleted; its new events are
        inserted except those whose event_id the warehouse already holds from another file
        (or earlier in this file), which go to `duplicate_events`. Events that only this file
        held before and no longer carries are replaced by their next stored copy, if any.
        """
        return self.replace_sources_rows([load])[0]

    def replace_sources_rows(self, loads: Sequence[SourceLoad]) -> list[LoadResult]:
        """`replace_source_rows` for a group of files in one transaction (many small files).

        Each file is still all-or-nothing; the group shares one commit, so a thousand small
        files cost a few commits instead of a thousand.
        """
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                results = self._replace_group(con, loads)
                con.execute("COMMIT")
            except BaseException:
                _rollback_quietly(con)
                raise
        return results

    def _remove_source(self, con: Any, uri: str) -> frozenset[date]:
        # A file the ledger has never seen has nothing to remove: skip four table scans.
        if not con.execute(
            "SELECT count(*) FROM ingest_ledger WHERE source_uri = ?", [uri]
        ).fetchone()[0]:
            return frozenset()
        old_dates = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT event_date FROM meter_events WHERE source_uri = ?", [uri]
            ).fetchall()
        }
        con.execute("DELETE FROM meter_events WHERE source_uri = ?", [uri])
        con.execute("DELETE FROM duplicate_events WHERE source_uri = ?", [uri])
        con.execute("DELETE FROM rejected_rows WHERE source_uri = ?", [uri])
        con.execute("DELETE FROM focus_line_items WHERE source_uri = ?", [uri])
        return frozenset(old_dates)

    def _promote_orphaned_duplicates(self, con: Any, uri: str) -> set[date]:
        """Copies that were deduplicated against `uri` become the stored copy when `uri`'s
        rows no longer hold their event_id."""
        if not con.execute(
            "SELECT count(*) FROM duplicate_events WHERE duplicate_of_uri = ? AND source_uri <> ?",
            [uri, uri],
        ).fetchone()[0]:
            return set()
        con.execute(
            """CREATE OR REPLACE TEMP TABLE promoted AS
               SELECT * EXCLUDE (rn) FROM (
                 SELECT d.*, row_number() OVER (PARTITION BY d.event_id ORDER BY d.source_uri, d.source_row) AS rn
                 FROM duplicate_events d
                 WHERE d.duplicate_of_uri = ?
                   AND NOT EXISTS (SELECT 1 FROM meter_events m WHERE m.event_id = d.event_id)
               ) WHERE rn = 1""",
            [uri],
        )
        if not con.execute("SELECT count(*) FROM promoted").fetchone()[0]:
            return set()
        cols = ", ".join(EVENT_COLUMNS + ["ingested_at"])
        con.execute(
            f"INSERT INTO meter_events ({cols}, event_key) SELECT {cols}, {EVENT_KEY} FROM promoted"  # noqa: S608 - fixed column names
        )
        con.execute(
            """DELETE FROM duplicate_events d USING promoted p
               WHERE d.source_uri = p.source_uri AND d.source_row = p.source_row AND d.event_id = p.event_id"""
        )
        con.execute(
            """UPDATE duplicate_events d SET duplicate_of_uri = p.source_uri
               FROM promoted p WHERE d.event_id = p.event_id"""
        )
        sources = [r[0] for r in con.execute("SELECT DISTINCT source_uri FROM promoted").fetchall()]
        for src in sources:
            self._recount_ledger(con, src)
        return {r[0] for r in con.execute("SELECT DISTINCT event_date FROM promoted").fetchall()}

    def _supersede_older_deliveries(self, con: Any, load: SourceLoad) -> tuple[set[str], set[date]]:
        """A newer delivery of a billing period replaces that period's rows from the same export.

        Files of the same export (delivery key) holding the same billing account and period,
        written more than the delivery window before this one, lose those rows; files written
        within the window are parts of this same delivery and keep theirs.
        """
        assert load.focus_line_items is not None
        periods = load.focus_line_items.select("BillingAccountId", "BillingPeriodStart").unique()
        con.register("incoming_periods", periods.to_arrow())
        con.execute(
            """CREATE OR REPLACE TEMP TABLE superseded AS
               SELECT f.source_uri, f.source_row
               FROM focus_line_items f
               JOIN incoming_periods p
                 ON f."BillingAccountId" IS NOT DISTINCT FROM p."BillingAccountId"
                AND f."BillingPeriodStart" = p."BillingPeriodStart"
               JOIN ingest_ledger l ON l.source_uri = f.source_uri
               WHERE f.delivery_key = ? AND f.source_uri <> ?
                 AND l.last_modified < ?::TIMESTAMPTZ - to_seconds(?)""",
            [load.delivery_key, load.source_uri, load.last_modified, load.delivery_window_s],
        )
        con.unregister("incoming_periods")
        sources = {
            r[0] for r in con.execute("SELECT DISTINCT source_uri FROM superseded").fetchall()
        }
        if not sources:
            return set(), set()
        dates = {
            r[0]
            for r in con.execute(
                """SELECT DISTINCT m.event_date FROM meter_events m
               JOIN superseded s USING (source_uri, source_row)"""
            ).fetchall()
        }
        con.execute(
            "DELETE FROM meter_events m USING superseded s WHERE m.source_uri = s.source_uri AND m.source_row = s.source_row"
        )
        con.execute(
            "DELETE FROM duplicate_events d USING superseded s WHERE d.source_uri = s.source_uri AND d.source_row = s.source_row"
        )
        con.execute(
            "DELETE FROM focus_line_items f USING superseded s WHERE f.source_uri = s.source_uri AND f.source_row = s.source_row"
        )
        for src in sources:
            con.execute(
                """UPDATE ingest_ledger SET superseded = superseded + (SELECT count(*) FROM superseded WHERE source_uri = ?)
                   WHERE source_uri = ?""",
                [src, src],
            )
            self._recount_ledger(con, src)
        log.info("step=supersede source=%s older_files=%d", load.source_uri, len(sources))
        return sources, dates

    def _insert_focus_line_items(
        self, con: Any, load: SourceLoad, now: datetime, table: str = "focus_line_items"
    ) -> None:
        from contracts.focus import FOCUS_LINE_ITEM_SCHEMA

        assert load.focus_line_items is not None
        items = load.focus_line_items.join(
            load.events.select("source_row", "event_id"), on="source_row", how="left"
        ).with_columns(
            pl.lit(load.delivery_key).alias("delivery_key"), pl.lit(now).alias("ingested_at")
        )
        names = [*FOCUS_LINE_ITEM_SCHEMA, "delivery_key", "event_id", "ingested_at"]
        maps = [n for n, dtype in FOCUS_LINE_ITEM_SCHEMA.items() if isinstance(dtype, pl.List)]
        items, as_map = _as_map_input(items, maps)
        con.register("incoming_focus", items.to_arrow())
        select = ", ".join(as_map.get(n, f'"{n}"') for n in names)
        columns = ", ".join(f'"{n}"' for n in names)
        # Only rows that became events (or duplicates) are kept: rejected rows live in rejected_rows.
        con.execute(
            f"INSERT INTO {table} ({columns}) SELECT {select} FROM incoming_focus "  # noqa: S608 - names from the schema constant
            "WHERE event_id IS NOT NULL"
        )
        con.unregister("incoming_focus")

    def _recount_ledger(self, con: Any, uri: str) -> None:
        con.execute(
            """UPDATE ingest_ledger SET
                 events_loaded = (SELECT count(*) FROM meter_events WHERE source_uri = ?),
                 duplicates = (SELECT count(*) FROM duplicate_events WHERE source_uri = ?)
               WHERE source_uri = ?""",
            [uri, uri, uri],
        )

    def replace_source_chunks(self, load: SourceLoad, chunks: Iterable[Chunk]) -> LoadResult:
        """`replace_source_rows` for a file too large to hold at once, fed chunk by chunk.

        Each chunk is deduplicated (against the warehouse and the chunks before it, exactly as
        in one piece) and committed into private staging tables, so neither this process nor
        DuckDB holds the whole file; then one transaction replaces the file's rows with the
        staged ones. The file is still all-or-nothing: an exception raised by `chunks` (a bad
        gzip tail, too many rejects) leaves the warehouse as it was.
        """
        uri = load.source_uri
        with self.writer() as con:
            stage = self._create_stage(con)
            try:
                now = _now()
                rows_in = loaded = duplicates = rejected = 0
                for chunk in chunks:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        new, dups, _ = self._insert_events(
                            con, chunk.events, now, stage=stage, uri=uri
                        )
                        self._insert_rejects(con, chunk.rejects, now, table=f"{stage}_rejects")
                        if chunk.focus_line_items is not None:
                            part = replace(
                                load, events=chunk.events, focus_line_items=chunk.focus_line_items
                            )
                            self._insert_focus_line_items(con, part, now, table=f"{stage}_focus")
                        con.execute("COMMIT")
                    except BaseException:
                        _rollback_quietly(con)
                        raise
                    rows_in += chunk.rows_in
                    loaded += new.get(uri, 0)
                    duplicates += dups.get(uri, 0)
                    rejected += chunk.rejects.height
                con.execute("BEGIN TRANSACTION")
                try:
                    result = self._merge_stage(
                        con, load, stage, (rows_in, loaded, duplicates, rejected), now
                    )
                    con.execute("COMMIT")
                except BaseException:
                    _rollback_quietly(con)
                    raise
            finally:
                self._drop_stages(con)
        return result

    def _create_stage(self, con: Any) -> str:
        """Private tables holding a large file's rows until they replace its old ones.

        Temporary tables: never written to the warehouse file or its WAL (the rows are written
        once, by the merge), spilled to DuckDB's temp directory past the memory limit, and
        gone with the connection, so a killed load leaves nothing behind."""
        self._drop_stages(con)
        stage = f"{STAGE_PREFIX}{os.getpid()}"
        con.execute(
            f"CREATE TEMP TABLE {stage} AS SELECT *, NULL::UHUGEINT AS event_key FROM duplicate_events LIMIT 0"  # noqa: S608 - own name
        )  # nullable duplicate_of_uri: null marks the stored copy
        con.execute(f"CREATE TEMP TABLE {stage}_rejects AS SELECT * FROM rejected_rows LIMIT 0")  # noqa: S608
        con.execute(f"CREATE TEMP TABLE {stage}_focus AS SELECT * FROM focus_line_items LIMIT 0")  # noqa: S608
        return stage

    def _drop_stages(self, con: Any) -> None:
        # Also persistent ones a killed load of an earlier release left in the file: only the
        # writer (this lock holder) stages.
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?)",
            [STAGE_PREFIX],
        ).fetchall():
            con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def _merge_stage(
        self,
        con: Any,
        load: SourceLoad,
        stage: str,
        counts: tuple[int, int, int, int],
        now: datetime,
    ) -> LoadResult:
        """Inside the caller's transaction: the staged rows replace the file's old rows, with
        one INSERT ... SELECT per table (DuckDB writes large appends straight to disk)."""
        uri = load.source_uri
        removed = set(self._remove_source(con, uri))
        superseded: set[str] = set()
        if load.focus_line_items is not None:
            periods = con.execute(
                f'SELECT DISTINCT "BillingAccountId", "BillingPeriodStart" FROM {stage}_focus'  # noqa: S608 - own name
            ).pl()
            older, lost = self._supersede_older_deliveries(
                con, replace(load, focus_line_items=periods)
            )
            superseded |= older
            removed |= lost
        cols = ", ".join(EVENT_COLUMNS + ["ingested_at"])
        con.execute(
            f"INSERT INTO meter_events ({cols}, event_key) SELECT {cols}, event_key FROM {stage} WHERE duplicate_of_uri IS NULL"  # noqa: S608
        )
        con.execute(
            f"INSERT INTO duplicate_events SELECT * EXCLUDE (event_key) FROM {stage} WHERE duplicate_of_uri IS NOT NULL"  # noqa: S608
        )
        con.execute(f"INSERT INTO rejected_rows SELECT * FROM {stage}_rejects")  # noqa: S608
        con.execute(f"INSERT INTO focus_line_items SELECT * FROM {stage}_focus")  # noqa: S608
        added = {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT event_date FROM {stage} WHERE duplicate_of_uri IS NULL"  # noqa: S608
            ).fetchall()
        }
        touched = {uri: removed | added}
        return self._finish_sources(
            con,
            [replace(load, focus_line_items=None)],
            {uri: counts},
            touched,
            removed,
            superseded,
            now,
        )[0]

    def _replace_group(self, con: Any, loads: Sequence[SourceLoad]) -> list[LoadResult]:
        """Replace the rows of several files inside the caller's transaction.

        Files are taken in order: an event_id carried by an earlier file of the group (or
        already stored) makes later copies duplicates, exactly as loading them one by one.
        """
        now = _now()
        uris = [load.source_uri for load in loads]
        # One lookup for the group: only files the ledger already knows have rows to remove.
        known = self._uris_in(con, "SELECT source_uri FROM ingest_ledger", uris)
        touched: dict[str, set[date]] = {
            uri: set(self._remove_source(con, uri)) if uri in known else set() for uri in uris
        }
        superseded_sources: set[str] = set()
        for load in loads:
            if load.focus_line_items is not None:
                older, dates = self._supersede_older_deliveries(con, load)
                superseded_sources |= older
                touched[load.source_uri] |= dates
        # Days that lost rows (a replaced file, a superseded delivery) are rewritten in the
        # lake; days that only gain rows get a part file more.
        rewrite = set().union(*touched.values())
        new, dups, dates_by_uri = self._insert_events(
            con, pl.concat([load.events.select(EVENT_COLUMNS) for load in loads]), now
        )
        for uri, days in dates_by_uri.items():
            touched[uri] |= days
        self._insert_rejects(
            con, pl.concat([load.rejects.select(REJECT_COLUMNS) for load in loads]), now
        )
        counts = {
            load.source_uri: (
                load.rows_in,
                new.get(load.source_uri, 0),
                dups.get(load.source_uri, 0),
                load.rejects.height,
            )
            for load in loads
        }
        return self._finish_sources(con, loads, counts, touched, rewrite, superseded_sources, now)

    def _insert_events(
        self,
        con: Any,
        events: pl.DataFrame,
        now: datetime,
        *,
        stage: str | None = None,
        uri: str | None = None,
    ) -> tuple[dict[str, int], dict[str, int], dict[str, set[date]]]:
        """Insert events in order: the first copy of an event_id not already stored goes to
        meter_events, every other copy to duplicate_events. Returns, per source file, the
        events loaded, the duplicates and the event dates loaded.

        With a `stage` (a large file `uri` loading chunk by chunk), both go to the staging
        table instead, and "already stored" means in another file or staged before."""
        events = events.select(EVENT_COLUMNS).with_columns(pl.lit(now).alias("ingested_at"))
        events, as_map = _as_map_input(events, ["dimensions"])
        cols = ", ".join(EVENT_COLUMNS + ["ingested_at"])
        select = ", ".join(as_map.get(c, c) for c in EVENT_COLUMNS + ["ingested_at"])
        stored = self._stored_ids(con, events, stage=stage, uri=uri)
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
        for uri, day in new_rows.select("source_uri", "event_date").unique().iter_rows():
            dates.setdefault(uri, set()).add(day)
        return (
            dict(new_rows.group_by("source_uri").len().iter_rows()),
            dict(dup_rows.group_by("source_uri").len().iter_rows()),
            dates,
        )

    def _insert_rejects(
        self, con: Any, rejects: pl.DataFrame, now: datetime, table: str = "rejected_rows"
    ) -> None:
        if not rejects.height:
            return
        con.register(
            "incoming_rejects",
            rejects.select(REJECT_COLUMNS)
            .with_columns(pl.lit(now).alias("rejected_at"))
            .to_arrow(),
        )
        rcols = ", ".join(REJECT_COLUMNS + ["rejected_at"])
        con.execute(f"INSERT INTO {table} ({rcols}) SELECT {rcols} FROM incoming_rejects")  # noqa: S608
        con.unregister("incoming_rejects")

    def _finish_sources(
        self,
        con: Any,
        loads: Sequence[SourceLoad],
        counts: dict[str, tuple[int, int, int, int]],
        touched: dict[str, set[date]],
        rewrite: set[date],
        superseded_sources: set[str],
        now: datetime,
    ) -> list[LoadResult]:
        """After the files' rows are in: promote orphaned copies, write FOCUS line items and
        the ledger rows (rows_in, loaded, duplicates, rejected per file), mark the lake."""
        uris = [load.source_uri for load in loads]
        # Only after the new rows are in: an id a file still carries stays with that file.
        referenced = self._uris_in(
            con,
            "SELECT DISTINCT duplicate_of_uri FROM duplicate_events WHERE duplicate_of_uri <> source_uri",
            uris,
        )
        for uri in uris:
            if uri in referenced:
                promoted = self._promote_orphaned_duplicates(con, uri)
                touched[uri] |= promoted
                rewrite |= promoted
        for older_uri in sorted(superseded_sources):
            promoted = self._promote_orphaned_duplicates(con, older_uri)
            touched[uris[0]] |= promoted
            rewrite |= promoted
        results = []
        ledger_rows = []
        for load in loads:
            uri = load.source_uri
            if load.focus_line_items is not None:
                self._insert_focus_line_items(con, load, now)
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
                    uri, status, rows_in, loaded, duplicates, rejected, frozenset(touched[uri])
                )
            )
        self._upsert_ledger(con, ledger_rows)
        added = set().union(*touched.values()) - rewrite
        self._mark_lake_pending(con, rewrite=rewrite, appended=added, since=now)
        return results

    def _uris_in(self, con: Any, query: str, uris: Sequence[str]) -> set[str]:
        """Which of `uris` the one-column `query` returns (one round trip for a whole group)."""
        con.register(
            "group_uris", pl.DataFrame({"uri": list(uris)}, schema={"uri": pl.String}).to_arrow()
        )
        rows = con.execute(f"SELECT uri FROM group_uris WHERE uri IN ({query})").fetchall()  # noqa: S608 - fixed queries
        con.unregister("group_uris")
        return {r[0] for r in rows}

    def _stored_ids(
        self, con: Any, events: pl.DataFrame, *, stage: str | None = None, uri: str | None = None
    ) -> pl.DataFrame:
        """Incoming event_ids the warehouse already holds, with the file that holds each.

        Looked up only within the dedup window around the incoming event dates (a retry
        repeats its event time), so the lookup reads the row groups of those days, not the
        whole history. With a `stage`, the rows `uri` still has in the warehouse do not count
        (they are about to be replaced) and its staged stored copies do.
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
            [lo, self.dedup_window_days, hi, self.dedup_window_days, uri],
        ).pl()
        con.unregister("incoming_ids")
        return found if found.height else empty

    def _mark_lake_pending(
        self,
        con: Any,
        *,
        rewrite: Iterable[date] = (),
        appended: Iterable[date] = (),
        since: datetime | None = None,
    ) -> None:
        """Record which lake partitions the next publish must write: `rewrite` days anew,
        `appended` days only their rows ingested at or after `since`."""
        days = sorted(set(rewrite))
        if days:
            con.execute(
                """INSERT INTO lake_pending (event_date, rewrite) SELECT unnest(?::DATE[]), true
                   ON CONFLICT (event_date) DO UPDATE SET rewrite = true""",
                [days],
            )
        added = sorted(set(appended))
        if added:
            con.execute(
                """INSERT INTO lake_pending (event_date, rewrite, appended_since)
                   SELECT unnest(?::DATE[]), false, ?::TIMESTAMPTZ
                   ON CONFLICT (event_date) DO UPDATE SET appended_since =
                     least(coalesce(lake_pending.appended_since, excluded.appended_since), excluded.appended_since)""",
                [added, since],
            )

    def _upsert_ledger(self, con: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update the ledger rows of several files in one statement.

        Each row: source_uri, source_key, etag, size_bytes, checksum_sha256, last_modified,
        source_format, status, rows_in, events_loaded, duplicates, rejected, error.
        """
        if not rows:
            return
        now = _now()
        frame = pl.DataFrame(
            [{**row, "first_seen_at": now, "loaded_at": now} for row in rows],
            schema=LEDGER_UPSERT_SCHEMA,
        )
        con.register("incoming_ledger", frame.to_arrow())
        cols = ", ".join(LEDGER_UPSERT_SCHEMA)
        con.execute(
            f"""INSERT INTO ingest_ledger ({cols}, attempts)
               SELECT {cols}, 1 FROM incoming_ledger
               ON CONFLICT (source_uri) DO UPDATE SET
                   source_key = excluded.source_key, etag = excluded.etag, size_bytes = excluded.size_bytes,
                   checksum_sha256 = excluded.checksum_sha256, last_modified = excluded.last_modified,
                   source_format = excluded.source_format, status = excluded.status, rows_in = excluded.rows_in,
                   events_loaded = excluded.events_loaded, duplicates = excluded.duplicates,
                   rejected = excluded.rejected, error = excluded.error,
                   attempts = ingest_ledger.attempts + 1, loaded_at = excluded.loaded_at"""  # noqa: S608 - fixed column names
        )
        con.unregister("incoming_ledger")

    # -- publishing --------------------------------------------------------------------

    @property
    def _staging(self) -> Path:
        """The folder beside the lake that partitioned COPYs write to before files move in."""
        return self.lake.parent / f".{self.lake.name}-staging-{os.getpid()}"

    def _copy_partitions(self, con: Any, select: str, params: list[Any]) -> Path:
        """One partitioned COPY of `select` (rows with their event_date) into a fresh staging
        folder beside the lake; returns the folder (the caller moves files out, then drops it)."""
        staging = self._staging
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        # The target is our own staging folder, never a value from data.
        con.execute(
            f"COPY ({select} ORDER BY m.event_date, m.event_time, m.event_id) TO "  # noqa: S608 - own staging path, fixed SQL
            + _sql_literal(str(staging))
            + " (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd)",
            params,
        )
        return staging

    def _place(self, staging: Path, day: date, final: Path) -> Path | None:
        """Move the file the COPY wrote for `day` to `final` (fsync + rename), if it wrote one."""
        produced = sorted((staging / f"event_date={day.isoformat()}").glob("*.parquet"))
        if not produced:
            return None
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(produced[0], "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(produced[0], final)
        return final

    def _empty_partition(self, con: Any, final: Path) -> Path:
        # Every row of the file's range went away: an empty file, never a deleted one.
        empty = con.execute(
            "SELECT * EXCLUDE (event_date, event_key) FROM meter_events WHERE false"
        ).to_arrow_table()
        return _write_parquet_atomically(empty, final)

    def _publish_partitions(
        self, con: Any, rewrite: Sequence[date], appended: dict[date, datetime], base: Path
    ) -> list[Path]:
        """Write the lake partitions of `rewrite` days anew and add one part file to each
        `appended` day, with one partitioned COPY per kind into a staging folder, each file
        then moved into place (fsync + rename: all or nothing per file).

        A partition is `part-0.parquet` plus one `part-<µs>.parquet` per load that only added
        rows to the day; part-<t> holds the rows ingested from t until the next file's t, so
        a day is rewritten file by file and a reader never sees a row twice.
        """
        written: list[Path] = []
        files = {
            day: _part_files(base / f"event_date={day.isoformat()}")
            for day in {*rewrite, *appended}
        }
        # Days the lake does not hold yet are written whole, like rewritten ones.
        whole = sorted(d for d in {*rewrite, *appended} if d in rewrite or not files[d])
        single = [d for d in whole if len(files[d]) <= 1]
        split = [d for d in whole if len(files[d]) > 1]
        add = sorted(d for d in appended if d not in rewrite and files[d])
        try:
            if single:
                con.register("publish_days", _date_frame(single).to_arrow())
                staging = self._copy_partitions(
                    con,
                    "SELECT m.* EXCLUDE (event_key) FROM meter_events m JOIN publish_days USING (event_date)",
                    [],
                )
                con.unregister("publish_days")
                for day in single:
                    final = base / f"event_date={day.isoformat()}" / "part-0.parquet"
                    written.append(
                        self._place(staging, day, final) or self._empty_partition(con, final)
                    )
            for day in split:
                stamps = [stamp for stamp, _ in files[day]]
                for i, (stamp, final) in enumerate(files[day]):
                    upper = stamps[i + 1] if i + 1 < len(stamps) else None
                    staging = self._copy_partitions(
                        con,
                        "SELECT m.* EXCLUDE (event_key) FROM meter_events m WHERE m.event_date = ? "
                        "AND epoch_us(m.ingested_at) >= ? AND (? IS NULL OR epoch_us(m.ingested_at) < ?)",
                        [day, stamp, upper, upper],
                    )
                    written.append(
                        self._place(staging, day, final) or self._empty_partition(con, final)
                    )
            if add:
                frame = pl.DataFrame(
                    {"event_date": add, "since": [appended[d] for d in add]},
                    schema={"event_date": pl.Date, "since": pl.Datetime("us", "UTC")},
                )
                con.register("publish_appends", frame.to_arrow())
                staging = self._copy_partitions(
                    con,
                    "SELECT m.* EXCLUDE (event_key) FROM meter_events m JOIN publish_appends p "
                    "ON m.event_date = p.event_date AND m.ingested_at >= p.since",
                    [],
                )
                con.unregister("publish_appends")
                for day in add:
                    final = (
                        base
                        / f"event_date={day.isoformat()}"
                        / f"part-{_epoch_us(appended[day])}.parquet"
                    )
                    placed = self._place(staging, day, final)
                    if placed is not None:
                        written.append(placed)
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
        return written

    def publish_lake(self, tables: Iterable[str] = PUBLISHED_TABLES) -> list[Path]:
        """Publish the read path: the lake partitions loads marked pending (new part files
        for days that only gained rows, whole partitions for days that lost some) and the
        small tables.

        Every file is written to a hidden temp file, fsynced and renamed into place, so a
        reader sees the old file or the new one, never half of one. Files are replaced, never
        deleted (a day whose events all went away gets empty files), so a query that already
        listed a file can always open it.
        """
        written: list[Path] = []
        base = self.lake / "meter_events"
        with self.writer() as con:
            pending = con.execute(
                "SELECT event_date, rewrite, appended_since FROM lake_pending"
            ).fetchall()
            rewrite = {d for d, whole, _ in pending if whole}
            appended = {d: since for d, whole, since in pending if not whole}
            days = sorted(d for d, _, _ in pending)
            if appended:
                # Should this publish be cut short after writing a day's part file, the next
                # one rewrites the day rather than appending its rows a second time.
                con.execute("UPDATE lake_pending SET rewrite = true WHERE NOT rewrite")
            written += self._publish_partitions(con, sorted(rewrite), appended, base)
            for name in tables:
                written += self._publish_table(con, name)
            _write_text_atomically(read_views_sql(self.lake), self.lake / "views.sql")
            if days:
                con.execute(
                    "DELETE FROM lake_pending WHERE event_date IN (SELECT unnest(?::DATE[]))",
                    [days],
                )
        return written

    def _publish_table(self, con: Any, name: str) -> list[Path]:
        """Bring a small table's lake folder up to date, like a day's partition: nothing if
        unchanged, one more part file with the rows written since the newest published one
        if rows were only added, else every file anew by its ingest-time range."""
        folder = self.lake / name
        order, written_at = PUBLISHED_TABLES[name], _TABLE_TIME[name]
        files = _part_files(folder)
        lake_rows, lake_newest = (
            con.execute(
                f"SELECT count(*), max({written_at}) FROM read_parquet(?::VARCHAR[])",  # noqa: S608 - names from PUBLISHED_TABLES
                [[str(path) for _, path in files]],
            ).fetchone()
            if files
            else (0, None)
        )
        rows, newer = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {written_at} > ?) FROM {name}",  # noqa: S608 - names from PUBLISHED_TABLES
            [lake_newest],
        ).fetchone()
        if files and rows == lake_rows and not newer:
            return []
        if (
            name != "ingest_ledger"
            and lake_newest is not None
            and newer
            and rows - newer == lake_rows
        ):
            stamp = _epoch_us(lake_newest) + 1
            files = [(stamp, folder / f"part-{stamp}.parquet")]
        elif not files:
            files = [(0, folder / "part-0.parquet")]
        stamps = [stamp for stamp, _ in files]
        written = []
        for i, (stamp, final) in enumerate(files):
            upper = stamps[i + 1] if i + 1 < len(stamps) else None
            select = (
                f"SELECT * FROM {name} WHERE epoch_us({written_at}) >= ? "  # noqa: S608 - names from PUBLISHED_TABLES
                f"AND (? IS NULL OR epoch_us({written_at}) < ?) ORDER BY {order}"
            )
            written.append(_copy_parquet_atomically(con, select, [stamp, upper, upper], final))
        return written

    # -- reading -----------------------------------------------------------------------

    def query_published(
        self, sql: str, params: list[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run SQL on the published read path (the Parquet lake), never on the DuckDB file.

        A load in progress is never blocked by, and never breaks, such a query. The
        connection is in memory and may read only the lake folder; configuration is locked.
        """
        import duckdb

        views = self.lake / "views.sql"
        # Nothing published yet reads as an empty warehouse; a reader never takes the writer lock.
        script = views.read_text() if views.exists() else _empty_views_sql()
        with tempfile.TemporaryDirectory(prefix="meterhouse-sql-") as scratch:
            # The views live in a scratch catalog opened read-only: statements that would
            # create or change anything fail, and the warehouse file is never opened.
            catalog = str(Path(scratch) / "views.duckdb")
            with duckdb.connect(catalog) as setup:
                for statement in script.split(";\n"):
                    if statement.strip() and not statement.lstrip().upper().startswith("SET "):
                        setup.execute(statement)
            return self._query_catalog(catalog, sql, params)

    def _query_catalog(
        self, catalog: str, sql: str, params: list[Any] | None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        import duckdb

        con = duckdb.connect(catalog, read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            lake_dir = str(self.lake.resolve()) + "/"
            con.execute("SET allowed_directories = [?]", [lake_dir])
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description] if cur.description else []
            return names, cur.fetchall()
        finally:
            con.close()

    def query(
        self, sql: str, params: list[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run read-only SQL on the DuckDB file; returns (column names, rows).

        The file is opened read-only and the connection may touch no other file, so a query
        can neither change the warehouse nor overwrite it with COPY.
        """
        if self._con is not None:
            cur = self._con.execute(sql, params or [])
            names = [d[0] for d in cur.description] if cur.description else []
            return names, cur.fetchall()
        with self.reader() as con:
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description] if cur.description else []
            return names, cur.fetchall()
