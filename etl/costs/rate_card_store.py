"""The rate card in the warehouse: store a new card (and record its load), read the current one.

Functions take a writer connection (`Warehouse.writer()`); values always travel as parameters.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from contracts.rate_card import ADJUSTMENT_COLUMNS, PRICE_COLUMNS
from etl.costs.rate_cards import RateCard, changed_period
from etl.costs.schema import ensure_rollup_schema
from etl.costs.sqlfiles import sql_statements, sql_text
from etl.warehouse import transaction

log = logging.getLogger("meterhouse.rollups")


@dataclass(frozen=True)
class RateCardLoad:
    """What loading a rate card changed: the period whose costs it would change when re-rated."""

    version: str
    previous_version: str | None
    source_uri: str
    prices: int
    adjustments: int
    affected_from: date | None
    affected_to: date | None  # exclusive

    def to_dict(self) -> dict[str, Any]:
        """Plain values (ISO dates), for XCom and JSON."""
        out = asdict(self)
        for key in ("affected_from", "affected_to"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def read_rate_card(con: Any) -> RateCard | None:
    """The current rate card, or None if none was loaded."""
    versions = con.execute(sql_text("rate_card_version")).fetchall()
    if not versions:
        return None
    cols = ", ".join(
        c if c != "dimension_match" else "map_entries(dimension_match) AS dimension_match"
        for c in PRICE_COLUMNS
    )
    prices = con.execute(f"SELECT {cols} FROM rate_card ORDER BY priority, tier_from").pl()  # noqa: S608 - fixed column names
    adjustments = con.execute(
        f"SELECT {', '.join(ADJUSTMENT_COLUMNS)} FROM rate_adjustments ORDER BY priority"  # noqa: S608
    ).pl()
    card = RateCard.empty()
    return RateCard(
        prices.cast(dict(card.prices.schema)).select(PRICE_COLUMNS),
        adjustments.cast(dict(card.adjustments.schema)).select(ADJUSTMENT_COLUMNS),
        str(versions[0][0]),
    )


def _event_range(con: Any) -> tuple[date | None, date | None]:
    low, high = con.execute(sql_text("event_range")).fetchone()
    return low, high


def store_rate_card(con: Any, card: RateCard, source_uri: str) -> RateCardLoad:
    """Replace the current rate card with `card` in one transaction and record the load.

    Costs already rolled up are not touched: re-rating is a separate, explicit step over the
    returned affected period (clipped to the days that have events).
    """
    ensure_rollup_schema(con)
    old = read_rate_card(con)
    period = changed_period(old, card)
    low, high = _event_range(con)
    affected_from = affected_to = None
    if period is not None and low is not None and high is not None:
        start = max(period[0], low)
        end = (
            high + timedelta(days=1)
            if period[1] is None
            else min(period[1], high + timedelta(days=1))
        )
        if start < end:
            affected_from, affected_to = start, end
    load = RateCardLoad(
        card.version,
        old.version if old else None,
        source_uri,
        card.prices.height,
        card.adjustments.height,
        affected_from,
        affected_to,
    )
    prices = card.prices.with_columns(pl.lit(card.version).alias("version"))
    adjustments = card.adjustments.with_columns(pl.lit(card.version).alias("version"))
    try:
        with transaction(con):
            for statement in sql_statements("clear_rate_card"):
                con.execute(statement)
            con.register("incoming_prices", prices.to_arrow())
            cols = ", ".join(PRICE_COLUMNS + ["version"])
            select = cols.replace("dimension_match", "map_from_entries(dimension_match)")
            con.execute(f"INSERT INTO rate_card ({cols}) SELECT {select} FROM incoming_prices")  # noqa: S608
            con.register("incoming_adjustments", adjustments.to_arrow())
            acols = ", ".join(ADJUSTMENT_COLUMNS + ["version"])
            insert = (
                f"INSERT INTO rate_adjustments ({acols}) SELECT {acols} FROM incoming_adjustments"  # noqa: S608
            )
            con.execute(insert)
            con.execute(
                sql_text("record_rate_card_load"),
                [load.version, load.previous_version, source_uri, load.prices, load.adjustments,
                 affected_from, affected_to, datetime.now(tz=UTC)],
            )  # fmt: skip
    finally:
        con.unregister("incoming_prices")
        con.unregister("incoming_adjustments")
    log.info(
        "step=rate_card_load source=%s version=%s previous=%s affected_from=%s affected_to=%s",
        source_uri, load.version, load.previous_version, affected_from, affected_to,
    )  # fmt: skip
    return load


def last_rate_card_period(con: Any) -> tuple[date, date] | None:
    """The affected period of the most recent rate card load, if it changed anything."""
    row = con.execute(sql_text("last_rate_card_period")).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def mark_rerated(con: Any) -> None:
    """Record that the most recently loaded rate card's period was re-rated (now)."""
    con.execute(sql_text("mark_rerated"), [datetime.now(tz=UTC)])
