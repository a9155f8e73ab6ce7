"""The ingest ledger: what the warehouse remembers of each source file, and the lake days its
loads left to publish."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from etl.warehouse.connection import Connection
from etl.warehouse.records import LedgerEntry, Lineage
from etl.warehouse.sqlfiles import sql_text

_LEDGER_ALL = sql_text("ledger_all")
_LEDGER_OF_URIS = sql_text("ledger_of_uris")
_UPSERT = sql_text("ledger_upsert")
_RECOUNT = sql_text("ledger_recount")
_PENDING_REWRITE = sql_text("pending_rewrite")
_PENDING_APPEND = sql_text("pending_append")

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
        "run_id": pl.String(),
        "dag_id": pl.String(),
        "try_number": pl.Int32(),
        "os_user": pl.String(),
        "run_started_at": pl.Datetime("us", "UTC"),
    }
)
"""The ledger columns a load or a failure writes (the rest keep their defaults or counters)."""


def now() -> datetime:
    """The current time, UTC: a load's timestamp."""
    return datetime.now(tz=UTC)


def read_ledger(con: Connection, uris: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
    """Ledger rows, for the given URIs or all."""
    if uris is None:
        rows = con.execute(_LEDGER_ALL).fetchall()
    else:
        wanted = pl.DataFrame({"source_uri": list(uris)}, schema={"source_uri": pl.Utf8})
        con.register("wanted_uris", wanted.to_arrow())
        rows = con.execute(_LEDGER_OF_URIS).fetchall()
    return {r[0]: LedgerEntry(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows}


def upsert_ledger(
    con: Connection, rows: Sequence[dict[str, Any]], lineage: Lineage | None = None
) -> None:
    """Insert or update the ledger rows of several files in one statement.

    Each row: source_uri, source_key, etag, size_bytes, checksum_sha256, last_modified,
    source_format, status, rows_in, events_loaded, duplicates, rejected, error. `lineage`
    (default: this process, as the command line) names the run that loaded them.
    """
    if not rows:
        return
    stamp = now()
    loaded_by = (lineage or Lineage.cli(stamp)).ledger_values()
    frame = pl.DataFrame(
        [{**row, **loaded_by, "first_seen_at": stamp, "loaded_at": stamp} for row in rows],
        schema=LEDGER_UPSERT_SCHEMA,
    )
    con.register("incoming_ledger", frame.to_arrow())
    con.execute(_UPSERT)
    con.unregister("incoming_ledger")


def recount_ledger(con: Connection, uri: str) -> None:
    """Recount a file's loaded events and duplicates after rows moved between the two."""
    con.execute(_RECOUNT, [uri, uri, uri])


def uris_in(con: Connection, query: str, uris: Sequence[str]) -> set[str]:
    """Which of `uris` the one-column `query` returns (one round trip for a whole group)."""
    con.register(
        "group_uris", pl.DataFrame({"uri": list(uris)}, schema={"uri": pl.String}).to_arrow()
    )
    rows = con.execute(f"SELECT uri FROM group_uris WHERE uri IN ({query})").fetchall()  # noqa: S608 - fixed queries
    con.unregister("group_uris")
    return {r[0] for r in rows}


def mark_lake_pending(
    con: Connection,
    *,
    rewrite: Iterable[date] = (),
    appended: Iterable[date] = (),
    since: datetime | None = None,
) -> None:
    """Record which lake partitions the next publish must write: `rewrite` days anew,
    `appended` days only their rows ingested at or after `since`."""
    days = sorted(set(rewrite))
    if days:
        con.execute(_PENDING_REWRITE, [days])
    added = sorted(set(appended))
    if added:
        con.execute(_PENDING_APPEND, [added, since])
