"""FOCUS deliveries: line items stored beside their events, and a newer delivery of a billing
period replacing the older one's rows."""

from __future__ import annotations

import logging
from datetime import date, datetime

import polars as pl

from contracts.focus import FOCUS_LINE_ITEM_SCHEMA
from contracts.focus_conformance import FINDING_COLUMNS
from etl.warehouse import ledger
from etl.warehouse.connection import Connection
from etl.warehouse.maps import as_map_input
from etl.warehouse.records import SourceLoad
from etl.warehouse.sqlfiles import sql_statements, sql_text

log = logging.getLogger("etl.warehouse")

_SUPERSEDED = sql_text("superseded")
_SUPERSEDED_DATES = sql_text("superseded_dates")
_SUPERSEDED_REMOVE = sql_statements("superseded_remove")
_SUPERSEDED_COUNT = sql_text("superseded_count")

_ITEM_COLUMNS = [*FOCUS_LINE_ITEM_SCHEMA, "delivery_key", "event_id", "ingested_at"]
_MAP_COLUMNS = [n for n, dtype in FOCUS_LINE_ITEM_SCHEMA.items() if isinstance(dtype, pl.List)]


def supersede_older_deliveries(
    con: Connection, load: SourceLoad, periods: pl.DataFrame | None = None
) -> tuple[set[str], set[date]]:
    """A newer delivery of a billing period replaces that period's rows from the same export.

    Files of the same export (delivery key) holding the same billing account and period,
    written more than the delivery window before this one, lose those rows; files written
    within the window are parts of this same delivery and keep theirs. `periods` (columns
    BillingAccountId, BillingPeriodStart) defaults to those of the load's line items.
    Returns the files that lost rows and the event dates they lost.
    """
    if periods is None:
        assert load.focus_line_items is not None
        periods = load.focus_line_items.select("BillingAccountId", "BillingPeriodStart").unique()
    con.register("incoming_periods", periods.to_arrow())
    con.execute(
        _SUPERSEDED,
        [load.delivery_key, load.source_uri, load.last_modified, load.delivery_window_s],
    )
    con.unregister("incoming_periods")
    sources = {r[0] for r in con.execute("SELECT DISTINCT source_uri FROM superseded").fetchall()}
    if not sources:
        return set(), set()
    dates = {r[0] for r in con.execute(_SUPERSEDED_DATES).fetchall()}
    for statement in _SUPERSEDED_REMOVE:
        con.execute(statement)
    for src in sources:
        con.execute(_SUPERSEDED_COUNT, [src, src])
        ledger.recount_ledger(con, src)
    log.info("step=supersede source=%s older_files=%d", load.source_uri, len(sources))
    return sources, dates


def insert_focus_line_items(
    con: Connection, load: SourceLoad, now: datetime, table: str = "focus_line_items"
) -> None:
    """Store the load's FOCUS line items (those that became events or duplicates) in `table`."""
    assert load.focus_line_items is not None
    items = load.focus_line_items.join(
        load.events.select("source_row", "event_id"), on="source_row", how="left"
    ).with_columns(
        pl.lit(load.delivery_key).alias("delivery_key"), pl.lit(now).alias("ingested_at")
    )
    items, as_map = as_map_input(items, _MAP_COLUMNS)
    con.register("incoming_focus", items.to_arrow())
    select = ", ".join(as_map.get(n, f'"{n}"') for n in _ITEM_COLUMNS)
    columns = ", ".join(f'"{n}"' for n in _ITEM_COLUMNS)
    # Only rows that became events (or duplicates) are kept: rejected rows live in rejected_rows.
    con.execute(
        f"INSERT INTO {table} ({columns}) SELECT {select} FROM incoming_focus "  # noqa: S608 - names from the schema constant
        "WHERE event_id IS NOT NULL"
    )
    con.unregister("incoming_focus")


_FINDING_COLUMNS = ", ".join([*FINDING_COLUMNS, "found_at"])


def insert_focus_findings(
    con: Connection,
    findings: pl.DataFrame,
    now: datetime,
    table: str = "focus_conformance",
    rejects: pl.DataFrame | None = None,
) -> None:
    """Store conformance findings (contracts.focus_conformance) stamped `now` in `table`; those
    of rows rejected after parsing (`rejects`, e.g. by the MeterEvent contract) are left out:
    only loaded rows have findings."""
    if rejects is not None and rejects.height:
        findings = findings.filter(
            ~pl.col("source_row").is_in(rejects.get_column("source_row").drop_nulls().implode())
        )
    if not findings.height:
        return
    con.register(
        "incoming_findings",
        findings.select(FINDING_COLUMNS).with_columns(pl.lit(now).alias("found_at")).to_arrow(),
    )
    con.execute(
        f"INSERT INTO {table} ({_FINDING_COLUMNS}) SELECT {_FINDING_COLUMNS} FROM incoming_findings"  # noqa: S608 - names from the contract
    )
    con.unregister("incoming_findings")


_FINDINGS_OF_SOURCE = sql_text("focus_findings_of_source")


def findings_of_source(con: Connection, uri: str) -> tuple[tuple[str, int], ...]:
    """A file's conformance findings per rule."""
    return tuple((str(r), int(n)) for r, n in con.execute(_FINDINGS_OF_SOURCE, [uri]).fetchall())
