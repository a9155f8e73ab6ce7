"""The read-only query sandbox: SQL on the published Parquet lake, never on the DuckDB file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

Rows = tuple[list[str], list[tuple[Any, ...]]]
"""A query's result: the column names and the rows."""


def query_published(
    lake: Path, sql: str, params: list[Any] | None = None, *, empty_views: str
) -> Rows:
    """Run SQL on the published read path (the Parquet lake), never on the DuckDB file.

    A load in progress is never blocked by, and never breaks, such a query. The connection is
    in memory and may read only the lake folder; configuration is locked. `empty_views` is the
    views script used while nothing is published yet (an empty warehouse).
    """
    import duckdb

    views = lake / "views.sql"
    # Nothing published yet reads as an empty warehouse; a reader never takes the writer lock.
    script = views.read_text() if views.exists() else empty_views
    with tempfile.TemporaryDirectory(prefix="meterhouse-sql-") as scratch:
        # The views live in a scratch catalog opened read-only: statements that would
        # create or change anything fail, and the warehouse file is never opened.
        catalog = str(Path(scratch) / "views.duckdb")
        with duckdb.connect(catalog) as setup:
            for statement in script.split(";\n"):
                if statement.strip() and not statement.lstrip().upper().startswith("SET "):
                    setup.execute(statement)
        return query_catalog(lake, catalog, sql, params)


def query_catalog(lake: Path, catalog: str, sql: str, params: list[Any] | None) -> Rows:
    """Run SQL on a DuckDB catalog file opened read-only, allowed to read only `lake`."""
    import duckdb

    con = duckdb.connect(catalog, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        lake_dir = str(lake.resolve()) + "/"
        con.execute("SET allowed_directories = [?]", [lake_dir])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()
    finally:
        con.close()
