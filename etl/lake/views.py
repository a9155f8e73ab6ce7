"""views.sql: the DuckDB views over the Parquet lake that `meterhouse sql` and the DuckDB CLI query.

The caller names the warehouse's tables (etl.warehouse.schema.LAKE_TABLES); the rollup tables
and their views come from contracts.rollup_tables, so views.sql always defines them (empty until
the first rollup) without the lake importing the code that builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from contracts.lake import LakeTable
from contracts.rollup_tables import ROLLUP_LAKE_TABLES, ROLLUP_VIEW_DDL
from etl.lake.files import part_files, sql_path


def _files(folder: Path, table: LakeTable) -> str | None:
    """The glob of the table's published files, or None while the lake holds none."""
    if table.partition:
        pattern = f"{table.partition}=*/*.parquet"
        return pattern if any(folder.glob(pattern)) else None
    if table.written_at:
        return "part-*.parquet" if part_files(folder) else None
    return "part-0.parquet" if (folder / "part-0.parquet").exists() else None


def _table_sql(lake: Path | None, table: LakeTable) -> str | None:
    folder = lake / table.name if lake is not None else None
    pattern = _files(folder, table) if folder is not None else None
    if folder is not None and pattern is not None:
        source = f"read_parquet({sql_path(folder / pattern)}"
        if table.partition:
            source += f", hive_partitioning = true, hive_types = {{'{table.partition}': DATE}}"
        # Part-file tables are read whole; the others by their schema's columns.
        columns = "*" if table.written_at else ", ".join(table.columns)
        return f"CREATE OR REPLACE VIEW {table.name} AS SELECT {columns} FROM {source});"  # noqa: S608 - configured path, fixed names
    if lake is None or table.empty_when_unpublished:
        return table.ddl.replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TABLE") + ";"
    return None


def views_sql(lake: Path | None, tables: Sequence[LakeTable]) -> str:
    """views.sql for the lake folder `lake`: a view per published table of `tables` and of the
    rollup tables, an empty table for one not published yet, then the rollup views.

    With `lake` None: every table empty (what a reader sees before anything is published).
    Usable from the DuckDB CLI as `duckdb -init <lake>/views.sql` (or `.read <lake>/views.sql`).
    """
    lake = lake.resolve() if lake is not None else None
    lines = ["SET TimeZone = 'UTC';"]
    for table in (*tables, *ROLLUP_LAKE_TABLES.values()):
        line = _table_sql(lake, table)
        if line is not None:
            lines.append(line)
    lines += [view + ";" for view in ROLLUP_VIEW_DDL]
    return "\n".join(lines) + "\n"
