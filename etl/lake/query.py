"""The read-only query sandbox: one SELECT on the published Parquet lake (or, `--live`, on a
read-only warehouse connection), with DuckDB's own controls doing the fencing.

Two layers, each enough on its own for what it covers:

- DuckDB refuses file access outside the published tables' folders
  (`enable_external_access = false` plus `allowed_directories`), extension installs and loads,
  and any configuration change (`lock_configuration = true`).
- DuckDB's parser decides what the input is: exactly one SELECT statement (SELECT, FROM, WITH,
  VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT with an IN list), nothing else. DuckDB lets a
  connection write into an allowed directory (COPY, EXPORT), so this layer is what keeps the
  lake's own folders read-only.

The views are defined here from the tables' specs, with the lake's path resolved at run time:
no script is read from the lake, so nothing written there can widen what a query may do.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from contracts.lake import LakeTable
from etl.errors import TerminalError
from etl.lake.state import lake_behind
from etl.lake.views import create_views, table_folders

Rows = tuple[list[str], list[tuple[Any, ...]]]
"""A query's result: the column names and the rows."""

Select = Callable[[str, list[Any] | None], Rows]
"""Runs one SELECT with its parameters on an open read connection."""

ALLOWED = "one SELECT statement (SELECT, FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE)"


class QueryRefused(TerminalError):
    """The SQL is not something the read path runs (not exactly one SELECT)."""


class QueryFailed(TerminalError):
    """DuckDB could not run the query; the message is the first line of its error."""


class LakeBehind(TerminalError):
    """The published lake is behind the warehouse: a run changed the warehouse and stopped
    before publishing. Re-running ingest publishes what is pending."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB appends hints and context below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def lock_down(con: Any, readable: Sequence[Path | str], scratch: Path | None = None) -> None:
    """Fence a fresh connection: it may read only files under `readable` (and spill to
    `scratch`), install or load nothing, and change no setting from here on."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if scratch is not None:
        con.execute("SET temp_directory = ?", [str(scratch)])
    con.execute("SET allowed_directories = ?", [[str(p) + "/" for p in readable]])
    con.execute("SET enable_external_access = false")


def lock_configuration(con: Any) -> None:
    """From here on no statement can change a setting (RESET included)."""
    con.execute("SET lock_configuration = true")


def run_select(con: Any, sql: str, params: list[Any] | None = None) -> Rows:
    """Run `sql` on `con` if DuckDB's parser reads it as exactly one SELECT; returns (column
    names, rows). Refusals raise QueryRefused, DuckDB errors QueryFailed (one line each)."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryFailed(first_line(exc)) from exc
    if len(statements) != 1:
        raise QueryRefused(f"{len(statements)} statements; the read path runs exactly {ALLOWED}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name if statement.type.name != "???" else "this"
        raise QueryRefused(f"{kind} statement; the read path runs only {ALLOWED}")
    try:
        # The parsed statement itself runs: what was checked is what executes.
        cur = con.execute(statement, params or [])
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()
    except duckdb.Error as exc:
        raise QueryFailed(first_line(exc)) from exc


def query_published(
    lake: Path, sql: str, params: list[Any] | None = None, *, tables: Sequence[LakeTable]
) -> Rows:
    """Run one SELECT on the published read path (the Parquet lake), never on the DuckDB file.

    A load in progress is never blocked by, and never breaks, such a query. The connection is
    in memory, reads only the folders of `tables` (views defined over them here; a table not
    published yet reads as empty), and its configuration is locked. Raises LakeBehind when a
    run changed the warehouse and stopped before publishing.
    """
    with published_reader(lake, tables=tables) as select:
        return select(sql, params)


@contextlib.contextmanager
def published_reader(lake: Path, *, tables: Sequence[LakeTable]) -> Iterator[Select]:
    """`query_published` for several SELECTs on one fenced connection (a page of figures):
    yields a function that runs one SELECT, as `run_select` does. The views are defined once."""
    import duckdb

    behind = lake_behind(lake)
    if behind is not None:
        raise LakeBehind(
            f"the published lake {lake} is behind the warehouse ({behind}); run "
            "`meterhouse ingest` again (it publishes what is pending first), or query the "
            "warehouse itself with `meterhouse sql --live`"
        )
    root = lake.resolve()
    folders = table_folders(root, tables)
    with tempfile.TemporaryDirectory(prefix="meterhouse-sql-") as scratch:
        con = duckdb.connect(
            ":memory:",
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
        )
        try:
            try:
                lock_down(con, folders, Path(scratch))
                # Our own views run under the same fence as the user's SQL.
                create_views(con, root, tables)
                lock_configuration(con)
            except duckdb.Error as exc:
                raise QueryFailed(f"the lake {lake} cannot be read: {first_line(exc)}") from exc

            def select(sql: str, params: list[Any] | None = None) -> Rows:
                return run_select(con, sql, params)

            yield select
        finally:
            con.close()
