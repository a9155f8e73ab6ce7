"""The DuckDB views over the Parquet lake: defined at connection time by `meterhouse sql`, and
written to views.sql for the DuckDB CLI.

The caller names the warehouse's tables (etl.warehouse.schema.LAKE_TABLES); the rollup tables
and their views come from contracts.rollup_tables, so the views always define them (empty until
the first rollup) without the lake importing the code that builds them.

No path written to views.sql is absolute: its views read `<table>/...` relative to the lake
folder, so a copied or mounted warehouse folder can be queried as it is. DuckDB resolves a
relative path against the working directory (or `file_search_path`) when a query runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.lake import LakeTable
from contracts.rollup_tables import ROLLUP_LAKE_TABLES, ROLLUP_VIEW_DDL
from etl.lake.files import part_files, sql_path

VIEWS_HEADER = """\
-- The meterhouse lake for the DuckDB CLI. Paths are relative to this folder: run it from here,
--   cd <lake> && duckdb -init views.sql
-- or from elsewhere:  SET file_search_path = '<lake>';  .read <lake>/views.sql
"""


def _all_tables(tables: Sequence[LakeTable]) -> tuple[LakeTable, ...]:
    return (*tables, *ROLLUP_LAKE_TABLES.values())


def _files(folder: Path, table: LakeTable) -> str | None:
    """The glob of the table's published files, or None while the lake holds none."""
    if table.partition:
        pattern = f"{table.partition}=*/*.parquet"
        return pattern if any(folder.glob(pattern)) else None
    if table.written_at:
        return "part-*.parquet" if part_files(folder) else None
    return "part-0.parquet" if (folder / "part-0.parquet").exists() else None


def _table_sql(lake: Path | None, table: LakeTable, *, relative: bool) -> str | None:
    pattern = _files(lake / table.name, table) if lake is not None else None
    if lake is not None and pattern is not None:
        folder = Path(table.name) if relative else lake / table.name
        source = f"read_parquet({sql_path(folder / pattern)}"
        if table.partition:
            source += f", hive_partitioning = true, hive_types = {{'{table.partition}': DATE}}"
        # Part-file tables are read whole; the others by their schema's columns.
        columns = "*" if table.written_at else ", ".join(table.columns)
        return f"CREATE OR REPLACE VIEW {table.name} AS SELECT {columns} FROM {source})"  # noqa: S608 - configured path, fixed names
    if lake is None or table.empty_when_unpublished:
        return table.ddl.replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TABLE")
    return None


def view_statements(
    lake: Path | None, tables: Sequence[LakeTable], *, relative: bool = False
) -> list[str]:
    """The statements that define a view per published table of `tables` and of the rollup
    tables, an empty table for one not published yet, then the rollup views. Paths are under
    `lake` (absolute if it is), or relative to it with `relative`; with `lake` None every
    table is empty (what a reader sees before anything is published)."""
    statements = []
    for table in _all_tables(tables):
        line = _table_sql(lake, table, relative=relative)
        if line is not None:
            statements.append(line)
    return [*statements, *ROLLUP_VIEW_DDL]


def views_sql(lake: Path | None, tables: Sequence[LakeTable]) -> str:
    """views.sql for the lake folder `lake`, for the DuckDB CLI: `view_statements` with paths
    relative to the lake folder (run it from there: `cd <lake> && duckdb -init views.sql`)."""
    lines = [VIEWS_HEADER + "SET TimeZone = 'UTC';"]
    lines += [s + ";" for s in view_statements(lake, tables, relative=True)]
    return "\n".join(lines) + "\n"


def table_folders(lake: Path, tables: Sequence[LakeTable]) -> list[Path]:
    """The folder of every table of the read path (`tables` and the rollup tables): the only
    places a query connection may read."""
    return [lake / table.name for table in _all_tables(tables)]


def create_views(con: Any, lake: Path, tables: Sequence[LakeTable]) -> None:
    """Define the read path's views on `con`, over the files under the absolute `lake`; every
    table empty while nothing is published yet."""
    published = any(folder.is_dir() for folder in table_folders(lake, tables))
    for statement in view_statements(lake if published else None, tables):
        con.execute(statement)
