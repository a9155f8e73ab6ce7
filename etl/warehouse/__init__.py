"""The warehouse: the only code that opens the DuckDB file.

Modules: `connection` (writer lock, connections, `transaction()`), `schema` (tables from the
contracts), `ledger`, `load` (groups and chunks), `stage`, `dedup`, `focus_deliveries`, `maps`,
`records`, `typed`; `store.Warehouse` is the facade callers use. Static SQL lives in `sql/`.
"""

from etl.warehouse.connection import (
    Connection,
    DiskFull,
    NotAWarehouse,
    WarehouseMissing,
    require_warehouse,
    transaction,
)
from etl.warehouse.dedup import prepare_events
from etl.warehouse.load import retract_source
from etl.warehouse.records import (
    EMPTY,
    ERROR,
    FAILED,
    LOADED,
    Chunk,
    LedgerEntry,
    Lineage,
    LoadResult,
    PreparedEvents,
    Retraction,
    SourceLoad,
    os_user,
)
from etl.warehouse.schema import EVENT_KEY, PUBLISHED_TABLES, SCHEMA_DDL
from etl.warehouse.stage import STAGE_PREFIX
from etl.warehouse.store import Warehouse, empty_views_sql, read_views_sql
from etl.warehouse.typed import TypedReadRefused, stage_typed

__all__ = [
    "EMPTY",
    "ERROR",
    "EVENT_KEY",
    "FAILED",
    "LOADED",
    "PUBLISHED_TABLES",
    "SCHEMA_DDL",
    "STAGE_PREFIX",
    "Chunk",
    "Connection",
    "DiskFull",
    "LedgerEntry",
    "Lineage",
    "LoadResult",
    "NotAWarehouse",
    "PreparedEvents",
    "Retraction",
    "SourceLoad",
    "TypedReadRefused",
    "Warehouse",
    "WarehouseMissing",
    "empty_views_sql",
    "read_views_sql",
    "require_warehouse",
    "retract_source",
    "stage_typed",
    "os_user",
    "prepare_events",
    "transaction",
]
