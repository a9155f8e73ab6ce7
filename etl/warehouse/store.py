"""`Warehouse`: a DuckDB warehouse file plus its Parquet lake, behind one small facade.

The work is done by the modules beside it (load, ledger, dedup, FOCUS deliveries) and by the
lake (publish, views, query); this class holds the paths and settings and the one open writer
connection a batch shares.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from etl import lake
from etl.errors import TerminalError
from etl.formats.base import PrometheusBatch
from etl.settings import DuckLakeSettings, Settings
from etl.warehouse import ducklake, prometheus
from etl.warehouse import load as loading
from etl.warehouse.connection import (
    Connection,
    NotAWarehouse,
    WarehouseMissing,
    connect_reader,
    connect_writer,
    disk_full_errors,
    release_freed_memory,
    require_warehouse,
    scalar,
    writer_lock,
)
from etl.warehouse.ledger import read_ledger
from etl.warehouse.records import Chunk, LedgerEntry, Lineage, LoadResult, SourceLoad
from etl.warehouse.schema import LAKE_TABLES, PUBLISHED_TABLES, ensure_schema
from etl.warehouse.sqlfiles import sql_text
from etl.warehouse.stage import drop_stages

_PENDING_COUNT = sql_text("pending_count")
T = TypeVar("T")


def read_views_sql(lake_path: Path) -> str:
    """views.sql: the views over the Parquet lake for the DuckDB CLI, paths relative to the
    lake folder (`cd <lake> && duckdb -init views.sql`)."""
    return lake.views_sql(lake_path, LAKE_TABLES)


def empty_views_sql() -> str:
    """The views a reader sees while nothing is published: every table, empty."""
    return lake.views_sql(None, LAKE_TABLES)


class Warehouse:
    """A DuckDB warehouse file plus its Parquet lake (one writer at a time), or, with
    `ducklake`, the same tables in a DuckLake that many writers load at once
    (etl.warehouse.ducklake)."""

    def __init__(
        self,
        path: Path,
        lake: Path,
        *,
        lock_timeout_s: float = 600.0,
        dedup_window_days: int = 31,
        memory_limit: str = "1GB",
        create: bool = True,
        lineage: Lineage | None = None,
        ducklake: DuckLakeSettings | None = None,
    ) -> None:
        self.ducklake = ducklake
        """The DuckLake backend's settings; None: the DuckDB file at `path`."""
        self.path = Path(path)
        self.create = create
        """Whether `writer()` may create the warehouse file (ingest); readers never do."""
        self.lake = Path(lake)
        self.lock_timeout_s = lock_timeout_s
        self.dedup_window_days = dedup_window_days
        self.memory_limit = memory_limit
        self.lineage = lineage or Lineage.cli()
        """Who loads through this warehouse object: recorded on every ledger row it writes."""
        self._con: Connection | None = None

    @classmethod
    def of(
        cls, settings: Settings, *, create: bool = True, lineage: Lineage | None = None
    ) -> Warehouse:
        """The warehouse the settings name: the DuckDB file, or the DuckLake when
        METERHOUSE_WAREHOUSE_BACKEND=ducklake."""
        return cls(
            settings.warehouse_path,
            settings.lake_path,
            dedup_window_days=settings.dedup_window_days,
            memory_limit=settings.duckdb_memory_limit,
            create=create,
            lineage=lineage,
            ducklake=settings.ducklake,
        )

    def describe(self) -> str:
        """The warehouse for people: the DuckDB file's path, or `ducklake <data path>`."""
        if self.ducklake is not None:
            return f"ducklake {self.ducklake.data_path}"
        return str(self.path)

    # Connections

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """A short-lived read-write connection, held under the writer lock.

        Re-entrant: inside an open writer (a batch), loads share its connection while each
        file still commits on its own. Creates the file only if `create` (a folder or a file
        that is not DuckDB fails at once). A full disk raises DiskFull (retryable).

        The lake counts as behind the warehouse (etl.lake.state) from the moment the
        connection opens until it closes with nothing left to publish and no error.
        """
        if self._con is not None:
            with disk_full_errors(self.path):
                yield self._con
            return
        if self.ducklake is not None:
            with self._lake_writer(self.ducklake) as con:
                yield con
            return
        if self.path.is_dir() or not self.create:
            require_warehouse(self.path)
        marker = lake.PublishMarker(self.lake)
        lock_file = self.path.with_name(self.path.name + ".lock")
        fresh_lock = not lock_file.exists()
        with disk_full_errors(self.path), writer_lock(self.path, self.lock_timeout_s):
            try:
                con = connect_writer(
                    self.path, memory_limit=self.memory_limit, timeout_s=self.lock_timeout_s
                )
            except NotAWarehouse:
                if fresh_lock:  # a mistyped path leaves nothing behind
                    lock_file.unlink(missing_ok=True)
                raise
            try:
                marker.hold()
                ensure_schema(con)
                drop_stages(con)
                self._con = con
                yield con
            except BaseException as exc:
                marker.release(current=False, error=lake.first_line(exc))
                raise
            else:
                marker.release(current=_nothing_pending(con))
            finally:
                self._con = None
                con.close()

    @contextlib.contextmanager
    def _lake_writer(self, settings: DuckLakeSettings) -> Iterator[Connection]:
        """`writer()` on a DuckLake: no writer lock (loads serialize only their commits), no
        Parquet lake to mark (the DuckLake is its own read path)."""
        con = ducklake.connect_lake(settings, memory_limit=self.memory_limit)
        try:
            ducklake.ensure_lake_schema(con, settings)
            self._con = con
            yield con
        finally:
            self._con = None
            con.close()

    def serialized(self, load: Callable[[], T], *, replayable: bool = True) -> T:
        """Run a write's transaction(s) (a load, a rollup, a rate card): as is on the DuckDB file
        (its writer lock is held), under the DuckLake writers' commit lock, retried on a commit
        conflict, on a DuckLake. Call it inside `writer()`."""
        if self.ducklake is None:
            return load()
        return ducklake.serialized(self.ducklake, load, replayable=replayable)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read-only connection: queries cannot modify the warehouse."""
        if self._con is not None:
            yield self._con
            return
        if self.ducklake is not None:
            con = ducklake.connect_lake(self.ducklake, read_only=True)
        else:
            con = connect_reader(self.path)
        try:
            yield con
        finally:
            con.close()

    # Ledger and loads (etl.warehouse.ledger, etl.warehouse.load)

    def ledger(self, uris: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
        """Ledger rows, for the given URIs or all (none while there is no warehouse file)."""
        if self._con is None and self.ducklake is None and not self.path.exists():
            return {}
        try:
            with self.reader() as con:
                return read_ledger(con, uris)
        except WarehouseMissing:
            if self.ducklake is None:
                raise
            return {}  # no DuckLake yet: nothing is loaded

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
            return self.serialized(
                lambda: loading.record_failure(
                    con,
                    source_uri=source_uri,
                    source_key=source_key,
                    etag=etag,
                    size_bytes=size_bytes,
                    last_modified=last_modified,
                    checksum_sha256=checksum_sha256,
                    source_format=source_format,
                    error=error,
                    retryable=retryable,
                    dedup_window_days=self.dedup_window_days,
                    lineage=self.lineage,
                )
            )

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
            return self.serialized(
                lambda: loading.replace_sources_rows(
                    con, loads, dedup_window_days=self.dedup_window_days, lineage=self.lineage
                )
            )

    def load_prometheus(self, load: SourceLoad, batch: PrometheusBatch) -> LoadResult:
        """Store a landed remote-write object's samples and replace the usage of the series x
        intervals they touch (etl.warehouse.prometheus), in one transaction."""
        self._refuse_prometheus(load)
        with self.writer() as con:
            return prometheus.load_prometheus(con, load, batch)

    def _refuse_prometheus(self, load: SourceLoad) -> None:
        """Remote-write samples stay on the DuckDB file (docs/ducklake.md says why)."""
        if self.ducklake is not None:
            raise TerminalError(
                f"{load.source_uri}: Prometheus remote-write objects load into the DuckDB "
                "warehouse only (METERHOUSE_WAREHOUSE_BACKEND=duckdb): their series tables are "
                "upserted by key and their exact 128-bit usage would be stored through a double, "
                "neither of which a DuckLake supports; land them for a DuckDB-file warehouse"
            )

    def load_prometheus_group(
        self, loads: Sequence[tuple[SourceLoad, PrometheusBatch]]
    ) -> list[LoadResult]:
        """`load_prometheus` for several landed objects in one transaction (each keeps its
        ledger row; the usage is computed once for all of their samples)."""
        for load, _ in loads[:1]:
            self._refuse_prometheus(load)
        with self.writer() as con:
            return prometheus.load_prometheus_group(con, loads)

    def replace_source_chunks(
        self, load: SourceLoad, chunks: Iterable[Chunk], stager: loading.Stager | None = None
    ) -> LoadResult:
        """`replace_source_rows` for a file too large to hold at once, fed chunk by chunk or
        staged by a `stager` (staged, then merged in one transaction: still all or nothing)."""
        with self.writer() as con:
            return self.serialized(
                lambda: loading.replace_source_chunks(
                    con,
                    load,
                    chunks,
                    dedup_window_days=self.dedup_window_days,
                    lineage=self.lineage,
                    stager=stager,
                ),
                replayable=False,  # the chunks are a stream, read once
            )

    # The lake (etl.lake)

    def publish_lake(self, tables: Iterable[str] = PUBLISHED_TABLES) -> list[Path]:
        """Publish the read path: the lake partitions loads marked pending (new part files
        for days that only gained rows, whole partitions for days that lost some), the
        small `tables` (names of PUBLISHED_TABLES) and views.sql.

        Every file is written to a hidden temp file, fsynced and renamed into place, so a
        reader sees the old file or the new one, never half of one. Files are replaced, never
        deleted (a day whose events all went away gets empty files), so a query that already
        listed a file can always open it.
        """
        if self.ducklake is not None:
            return []  # readers attach the DuckLake itself: nothing to publish
        with self.writer() as con:
            # The load's freed pages go back before the lake's COPY allocates its own.
            release_freed_memory()
            return lake.publish_lake(
                con, self.lake, [PUBLISHED_TABLES[name] for name in tables], LAKE_TABLES
            )

    def query_published(self, sql: str, params: list[Any] | None = None) -> lake.Rows:
        """Run one SELECT on the published read path (the Parquet lake), never on the DuckDB
        file (etl.lake.query: what it can and cannot do).

        A load in progress is never blocked by, and never breaks, such a query. Raises
        LakeBehind when a run changed the warehouse and stopped before publishing, and
        WarehouseMissing when neither the warehouse nor its lake exists (a mistyped path).
        """
        if self.ducklake is not None:
            return self.query(sql, params)  # a DuckLake is read at a committed snapshot
        if self.path.is_dir() or not self.lake.exists():
            require_warehouse(self.path)
        return lake.query_published(self.lake, sql, params, tables=LAKE_TABLES)

    @contextlib.contextmanager
    def published_reader(self) -> Iterator[lake.Select]:
        """`query_published` for several SELECTs on one read-only connection over the lake
        (its views defined once): yields a function that runs one SELECT with its parameters."""
        if self.ducklake is not None:
            with self._locked_down_reader() as con:
                yield functools.partial(lake.run_select, con)
            return
        if self.path.is_dir() or not self.lake.exists():
            require_warehouse(self.path)
        with lake.published_reader(self.lake, tables=LAKE_TABLES) as select:
            yield select

    def query(self, sql: str, params: list[Any] | None = None) -> lake.Rows:
        """Run one SELECT on the DuckDB file itself; returns (column names, rows).

        The file is opened read-only (an existing one only), the connection may touch no
        other file, install nothing and change no setting, and anything but one SELECT is
        refused: a query can neither change the warehouse nor write a file.
        """
        if self._con is not None:
            return lake.run_select(self._con, sql, params)
        with self._locked_down_reader() as con:
            return lake.run_select(con, sql, params)

    @contextlib.contextmanager
    def _locked_down_reader(self) -> Iterator[Connection]:
        """`reader()` that may read no other file, install nothing and change no setting."""
        with self.reader() as con, tempfile.TemporaryDirectory(prefix="meterhouse-sql-") as tmp:
            readable = [] if self.ducklake is None else ducklake.readable_paths(self.ducklake)
            lake.lock_down(con, readable, Path(tmp))
            lake.lock_configuration(con)
            yield con


def _nothing_pending(con: Connection) -> bool:
    """Whether every change of the warehouse is published (best effort: False if unknown)."""
    try:
        return bool(scalar(con, _PENDING_COUNT) == 0)
    except Exception:  # noqa: BLE001 - a broken connection (a full disk) means "not known"
        return False
