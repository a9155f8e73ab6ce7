"""The rating and rollup tables and their views in the warehouse.

Their DDL is a contract (contracts.rollup_tables) because the lake defines the same tables over
its Parquet files; this module creates them in the DuckDB file.
"""

from __future__ import annotations

from typing import Any

from contracts.rollup_tables import ROLLUP_TABLE_DDL, ROLLUP_VIEW_DDL

ROLLUP_DDL: tuple[str, ...] = ROLLUP_TABLE_DDL + ROLLUP_VIEW_DDL
"""Every statement `ensure_rollup_schema` runs: the tables, then the views over them."""


def ensure_rollup_schema(con: Any) -> None:
    """Create the rating and rollup tables and (re)create their views."""
    for ddl in ROLLUP_DDL:
        con.execute(ddl)
