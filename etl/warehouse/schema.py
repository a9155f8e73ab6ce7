"""The warehouse's tables, built from the contracts, and how the lake publishes them."""

from __future__ import annotations

import polars as pl

from contracts.focus import FOCUS_LINE_ITEM_SCHEMA
from contracts.lake import LakeTable
from contracts.meter_event import MeterEvent
from etl.warehouse.connection import Connection, scalar, transaction
from etl.warehouse.money_upgrade import upgrade_focus_money
from etl.warehouse.sqlfiles import sql_statements


def duck_type(dtype: pl.DataType) -> str:
    """The DuckDB type a contract's polars type is stored as."""
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


EVENT_COLUMNS_DDL = ",\n".join(
    [
        f"    {name} {duck_type(column.dtype.type)}{'' if column.nullable else ' NOT NULL'}"
        for name, column in MeterEvent.to_schema().columns.items()
    ]
    + ["    ingested_at TIMESTAMPTZ NOT NULL"]
)
"""The canonical event columns as the MeterEvent contract defines them (types and
nullability), plus the load's timestamp: one per line."""

EVENT_KEY = "event_key_of(event_id)"
"""The key an event_id is looked up by across files: its 128-bit MD5 as one fixed-width value
(computed by DuckDB, so the stored and the incoming side agree). Two different ids share a key
with probability 2^-128 per pair, far below any other failure; only a producer crafting
colliding ids could cause one, and a producer can drop its rows anyway.

`event_key_of` is a macro each writer connection defines (EVENT_KEY_MACRO): the MD5 as a
UHUGEINT in the DuckDB file; a DuckLake, whose Parquet files cannot hold a UHUGEINT exactly,
stores it as a UUID (etl.warehouse.ducklake)."""

EVENT_KEY_MACRO = "CREATE OR REPLACE TEMP MACRO event_key_of(id) AS md5_number(id)"
"""`event_key_of` in the DuckDB file, whose meter_events.event_key is a UHUGEINT."""

# event_key: the duplicate lookup's key (EVENT_KEY), kept beside the row so the lookup reads
# one fixed-width column instead of every stored event_id string.
METER_EVENTS_DDL = (
    f"CREATE TABLE IF NOT EXISTS meter_events ({EVENT_COLUMNS_DDL},\n    event_key UHUGEINT)"
)
# Copies of an event_id already stored (a retry re-sent in another file, or twice in one file).
# Kept whole so that, if the stored copy's file is replaced without it, the next copy is
# promoted instead of the event being lost.
# conflict: its content differs from the stored copy's (null until ranked, see
# etl.warehouse.dedup.resolve_duplicates).
DUPLICATE_EVENTS_DDL = f"CREATE TABLE IF NOT EXISTS duplicate_events ({EVENT_COLUMNS_DDL}, duplicate_of_uri VARCHAR NOT NULL, conflict BOOLEAN)"
REJECTED_ROWS_DDL = sql_statements("rejected_rows")[0]
INGEST_LEDGER_DDL = sql_statements("ingest_ledger")[0]
_HAS_EVENT_KEY = sql_statements("has_event_key")[0]


def focus_ddl() -> str:
    """focus_line_items: FOCUS rows keep their specification column names, so FinOps queries
    run unchanged."""
    cols = ",\n    ".join(
        f'"{name}" {duck_type(dtype)}' for name, dtype in FOCUS_LINE_ITEM_SCHEMA.items()
    )
    return (
        f"CREATE TABLE IF NOT EXISTS focus_line_items (\n    {cols},\n    delivery_key VARCHAR NOT NULL,\n"
        "    event_id VARCHAR,\n    ingested_at TIMESTAMPTZ NOT NULL\n)"
    )


FOCUS_CONFORMANCE_DDL = sql_statements("focus_conformance")[0]
FOCUS_RECONCILIATION_DDL = sql_statements("focus_reconciliation")[0]

PROMETHEUS_SAMPLES_VIEW = sql_statements("prometheus_samples_view")[0]

SCHEMA_DDL: tuple[str, ...] = (
    *sql_statements("lake_pending"),
    METER_EVENTS_DDL,
    DUPLICATE_EVENTS_DDL,
    *sql_statements("duplicate_conflict"),
    REJECTED_ROWS_DDL,
    INGEST_LEDGER_DDL,
    *sql_statements("ledger_lineage_columns"),
    focus_ddl(),
    FOCUS_CONFORMANCE_DDL,
    FOCUS_RECONCILIATION_DDL,
    *sql_statements("prometheus_tables"),
    PROMETHEUS_SAMPLES_VIEW,
)
"""Every statement that creates (or upgrades) the warehouse's tables, idempotent."""

EVENTS_LAKE_TABLE = LakeTable(
    "meter_events",
    f"CREATE TABLE IF NOT EXISTS meter_events ({EVENT_COLUMNS_DDL})",
    order=None,
    partition="event_date",
)
"""meter_events in the lake: one folder per event day (etl.lake.publish writes the days the
loads mark pending), without the warehouse-only event_key."""

# When each row was written: a load stamps its rows with its start time, so rows newer than the
# lake's newest are the ones appended since the last publish. The ledger's rows change in place
# (counters, status), so it is always written whole.
PUBLISHED_TABLES: dict[str, LakeTable] = {
    "ingest_ledger": LakeTable(
        "ingest_ledger",
        INGEST_LEDGER_DDL,
        order="source_uri",
        written_at="loaded_at",
        append_only=False,
        empty_when_unpublished=False,
    ),
    "rejected_rows": LakeTable(
        "rejected_rows",
        REJECTED_ROWS_DDL,
        order="source_uri, source_row",
        written_at="rejected_at",
        empty_when_unpublished=False,
    ),
    "duplicate_events": LakeTable(
        "duplicate_events",
        DUPLICATE_EVENTS_DDL,
        order="source_uri, source_row",
        written_at="ingested_at",
        empty_when_unpublished=False,
    ),
    "focus_line_items": LakeTable(
        "focus_line_items",
        focus_ddl(),
        order=None,
        written_at="ingested_at",
        empty_when_unpublished=False,
    ),
    "focus_conformance": LakeTable(
        "focus_conformance",
        FOCUS_CONFORMANCE_DDL,
        order="source_uri, source_row",
        written_at="found_at",
        empty_when_unpublished=False,
    ),
    "focus_reconciliation": LakeTable(
        "focus_reconciliation",
        FOCUS_RECONCILIATION_DDL,
        order="source_uri, currency",
        written_at="reconciled_at",
        empty_when_unpublished=False,
    ),
}
"""Tables SQL users read from the lake besides meter_events (part files by write time)."""

LAKE_TABLES: tuple[LakeTable, ...] = (EVENTS_LAKE_TABLE, *PUBLISHED_TABLES.values())
"""Every warehouse table of the lake, in views.sql's order."""


def ensure_schema(con: Connection) -> None:
    """Create the tables (a new file) or bring an older file's tables up to date."""
    con.execute(EVENT_KEY_MACRO)
    for ddl in SCHEMA_DDL:
        con.execute(ddl)
    _add_event_keys(con)
    upgrade_focus_money(con)
    _upgrade_prometheus_samples(con)
    _fill_prometheus_last(con)


def _add_event_keys(con: Connection) -> None:
    """A warehouse written before meter_events had its lookup key gets it, once."""
    if scalar(con, _HAS_EVENT_KEY):
        return
    with transaction(con):
        con.execute("ALTER TABLE meter_events ADD COLUMN event_key UHUGEINT")
        con.execute(f"UPDATE meter_events SET event_key = {EVENT_KEY}")  # noqa: S608 - fixed SQL


def _upgrade_prometheus_samples(con: Connection) -> None:
    """A warehouse that stored its Prometheus samples with the series key and object URI on
    each (a `prometheus_samples` table) moves them to `prometheus_points`, once; the view
    `prometheus_samples` takes the table's place, with the same columns."""
    check, *upgrade = sql_statements("prometheus_upgrade")
    if not scalar(con, check):
        return
    with transaction(con):
        for statement in upgrade:
            con.execute(statement)
        con.execute(PROMETHEUS_SAMPLES_VIEW)


def _fill_prometheus_last(con: Connection) -> None:
    """A warehouse whose Prometheus samples were stored before prometheus_last existed gets
    it, once."""
    check, fill = sql_statements("prometheus_last_fill")
    if scalar(con, check):
        with transaction(con):
            con.execute(fill)
