"""The rollup tables in the Parquet lake: the only module of etl.costs that touches the lake.

Which tables are published, how their folders are split and sorted, and their views are data in
contracts.rollup_tables (`ROLLUP_LAKE_TABLES`, `ROLLUP_VIEW_DDL`):

- `cost_daily`: one file per month (`month=YYYY-MM-01/part-0.parquet`), rewritten for the months
  a rebuild touched;
- `rated_events`: one file per day (`event_date=YYYY-MM-DD/part-0.parquet`), rewritten for the
  rebuilt days;
- `cost_monthly`, `rate_card`, `rate_adjustments`, `rate_card_loads`: one file each, rewritten
  whole on every publish.

It writes through today's etl.warehouse (whose views.sql calls `rollup_views_sql`); the lake's
one publisher (etl.lake) replaces both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from contracts.lake import LakeTable
from contracts.rollup_tables import ROLLUP_LAKE_TABLES, ROLLUP_VIEW_DDL
from etl.warehouse import Warehouse, _write_parquet_atomically  # until etl.lake publishes


def _lake_literal(path: Path) -> str:
    # Only for paths from configuration (the lake folder), never for values from files.
    return "'" + str(path).replace("'", "''") + "'"


def rollup_views_sql(lake: Path | None) -> list[str]:
    """Statements that define the rollup tables and views over the lake (for views.sql).

    A table with no published file yet is created empty, so the documented views always answer.
    """
    lines: list[str] = []
    for table in ROLLUP_LAKE_TABLES.values():
        folder = lake.resolve() / table.name if lake is not None else None
        pattern = f"{table.partition}=*/*.parquet" if table.partition else "part-0.parquet"
        if folder is not None and any(folder.glob(pattern)):
            source = f"read_parquet({_lake_literal(folder / pattern)}"
            if table.partition:
                source += f", hive_partitioning = true, hive_types = {{'{table.partition}': DATE}}"
            lines.append(
                f"CREATE OR REPLACE VIEW {table.name} AS SELECT {', '.join(table.columns)} FROM {source});"  # noqa: S608 - configured path, fixed names
            )
        else:
            lines.append(
                table.ddl.replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TABLE") + ";"
            )
    lines += [view + ";" for view in ROLLUP_VIEW_DDL]
    return lines


def _publish_table(con: Any, lake: Path, table: LakeTable, partitions: Iterable[date]) -> None:
    folder = lake / table.name
    if not table.partition:
        select = f"SELECT * FROM {table.name} ORDER BY {table.order}"  # noqa: S608 - names from the table's contract
        _write_parquet_atomically(
            con.execute(select).to_arrow_table(),
            folder / "part-0.parquet",
        )
        return
    key = table.partition_key or table.partition
    # A partition column of the table is left out: the folder name holds it.
    columns = "*" if table.partition_key else f"* EXCLUDE ({table.partition})"
    select = f"SELECT {columns} FROM {table.name} WHERE {key} = ? ORDER BY {table.order}"  # noqa: S608 - names from the table's contract
    for value in sorted(set(partitions)):
        _write_parquet_atomically(
            con.execute(select, [value]).to_arrow_table(),
            folder / f"{table.partition}={value.isoformat()}" / "part-0.parquet",
        )


def publish_rollups(
    warehouse: Warehouse, con: Any, days: Iterable[date] = (), months: Iterable[date] = ()
) -> None:
    """Rewrite the lake files of the rebuilt days and months and of the small tables, then
    views.sql. Each file is replaced atomically (temp file + rename), never deleted."""
    # The partitions to rewrite, by partition column.
    partitions = {"month": list(months), "event_date": list(days)}
    lake = Path(warehouse.lake)
    for table in ROLLUP_LAKE_TABLES.values():
        _publish_table(con, lake, table, partitions[table.partition] if table.partition else ())
    # No small tables: views.sql is rewritten (plus any partition a load left pending).
    warehouse.publish_lake(tables=[])
