"""Staging tables: where a large file's chunks wait until they replace its old rows."""

from __future__ import annotations

import os

from etl.warehouse.connection import Connection
from etl.warehouse.sqlfiles import sql_text

STAGE_PREFIX = "_meterhouse_stage_"
"""Name prefix of the private tables a large file's chunks are staged in (dropped once it is
loaded or fails)."""

_STAGE_TABLES = sql_text("stage_tables")
_STAGE_VIEWS = sql_text("stage_views")


def create_stage(con: Connection) -> str:
    """Private tables holding a large file's rows until they replace its old ones; returns
    the name of the events table (`<name>_rejects`, `<name>_focus` and `<name>_findings` beside
    it).

    Temporary tables: never written to the warehouse file or its WAL (the rows are written
    once, by the merge), spilled to DuckDB's temp directory past the memory limit, and gone
    with the connection, so a killed load leaves nothing behind."""
    drop_stages(con)
    stage = f"{STAGE_PREFIX}{os.getpid()}"
    con.execute(
        f"""CREATE TEMP TABLE {stage} AS
            SELECT d.*, m.event_key, NULL::BOOLEAN AS from_line_items
            FROM duplicate_events d, meter_events m LIMIT 0"""  # noqa: S608 - own name
    )
    # Nullable duplicate_of_uri: null marks the stored copy; event_key as meter_events has it.
    # from_line_items: a row of which only what the duplicate lookups read is staged, the
    # rest typed at the merge from its line item's text (`Staged.events`).
    con.execute(f"CREATE TEMP TABLE {stage}_rejects AS SELECT * FROM rejected_rows LIMIT 0")  # noqa: S608
    con.execute(f"CREATE TEMP TABLE {stage}_focus AS SELECT * FROM focus_line_items LIMIT 0")  # noqa: S608
    con.execute(f"CREATE TEMP TABLE {stage}_findings AS SELECT * FROM focus_conformance LIMIT 0")  # noqa: S608
    return stage


def drop_stages(con: Connection) -> None:
    """Drop every staging view and table, also persistent ones a killed load of an earlier
    release left in the file: only the writer (this lock holder) stages."""
    for (name,) in con.execute(_STAGE_VIEWS, [STAGE_PREFIX]).fetchall():
        con.execute(f'DROP VIEW IF EXISTS "{name}"')
    for (name,) in con.execute(_STAGE_TABLES, [STAGE_PREFIX]).fetchall():
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
