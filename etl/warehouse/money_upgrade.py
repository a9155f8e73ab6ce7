"""Warehouses written when money had 12 decimal places get 18, once, on first open.

Widening DECIMAL(38, 12) to DECIMAL(38, 18) keeps every stored value exactly (all of them are
below 10^20); the event partitions are then republished so the lake carries the new type.
"""

from __future__ import annotations

import logging

import polars as pl

from contracts.focus import FOCUS_LINE_ITEM_SCHEMA, FOCUS_SCALE
from etl.warehouse import ledger
from etl.warehouse.connection import Connection, scalar, transaction
from etl.warehouse.sqlfiles import sql_statements, sql_text

log = logging.getLogger("etl.warehouse")

_MONEY_SCALE = sql_text("focus_money_scale")
_EVENT_UPGRADE = sql_statements("focus_schema_upgrade")
_EVENT_DAYS = "SELECT DISTINCT event_date FROM meter_events"
_FOCUS_DECIMALS = [n for n, d in FOCUS_LINE_ITEM_SCHEMA.items() if isinstance(d, pl.Decimal)]
_ROLLUP_SCALE = sql_text("rollup_money_scale")
_ROLLUP_SUMS = (
    "quantity", "rated_cost", "billed_cost", "effective_cost", "cost", "unrated_quantity"
)  # fmt: skip


def upgrade_focus_money(con: Connection) -> None:
    """Widen the event and FOCUS money and quantity columns, and the rollups' sums, to
    FOCUS_SCALE places, once."""
    _upgrade_rollup_sums(con)
    scale = scalar(con, _MONEY_SCALE)
    if scale is None or int(scale) >= FOCUS_SCALE:
        return
    with transaction(con):
        for statement in _EVENT_UPGRADE:
            con.execute(statement)
        for name in _FOCUS_DECIMALS:
            con.execute(
                f'ALTER TABLE focus_line_items ALTER COLUMN "{name}" TYPE DECIMAL(38, {FOCUS_SCALE})'  # noqa: S608 - names from the contract
            )
        days = [r[0] for r in con.execute(_EVENT_DAYS).fetchall()]
        ledger.mark_lake_pending(con, rewrite=days)
    log.info("step=upgrade money_scale=%s->%d event_days=%d", scale, FOCUS_SCALE, len(days))


def _upgrade_rollup_sums(con: Connection) -> None:
    """cost_daily and cost_monthly sum event values: their sums get FOCUS_SCALE places too."""
    scale = scalar(con, _ROLLUP_SCALE)
    if scale is None or int(scale) >= FOCUS_SCALE:
        return
    with transaction(con):
        for table in ("cost_daily", "cost_monthly"):
            for column in _ROLLUP_SUMS:
                con.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE DECIMAL(38, {FOCUS_SCALE})"  # noqa: S608 - fixed names
                )
    log.info("step=upgrade rollup_sums_scale=%s->%d", scale, FOCUS_SCALE)
