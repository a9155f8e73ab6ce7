"""The rollup tables in the Parquet lake: the only module of etl.costs that touches the lake.

Which tables are published, how their folders are split and sorted, and their views are data in
contracts.rollup_tables (`ROLLUP_LAKE_TABLES`, `ROLLUP_VIEW_DDL`); the lake's one publisher
(etl.lake.publish_tables) writes them:

- `cost_daily`: one file per month (`month=YYYY-MM-01/part-0.parquet`), rewritten for the months
  a rebuild touched;
- `rated_events`: one file per day (`event_date=YYYY-MM-DD/part-0.parquet`), rewritten for the
  rebuilt days;
- `cost_monthly`, `rate_card`, `rate_adjustments`, `rate_card_loads`: one file each, rewritten
  whole on every publish.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from contracts.rollup_tables import ROLLUP_LAKE_TABLES
from etl.lake import publish_tables
from etl.warehouse import Warehouse


def publish_rollups(
    warehouse: Warehouse, con: Any, days: Iterable[date] = (), months: Iterable[date] = ()
) -> None:
    """Rewrite the lake files of the rebuilt days and months and of the small tables, then
    views.sql. Each file is replaced atomically (temp file + rename), never deleted.

    A DuckLake is its own read path (readers attach its committed snapshot): nothing to do."""
    if warehouse.ducklake is not None:
        return
    publish_tables(
        con,
        warehouse.lake,
        ROLLUP_LAKE_TABLES.values(),
        {"cost_daily": list(months), "rated_events": list(days)},
    )
    # No small tables: views.sql is rewritten (plus any partition a load left pending).
    warehouse.publish_lake(tables=[])
