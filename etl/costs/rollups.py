"""Rebuilding days: re-rate their events and replace their rated events, `cost_daily` rows and
their months' `cost_monthly` rows, in one transaction, reconciled before it commits.

Nothing is incremented, so a rebuild of the same days with the same inputs changes nothing.
Values always travel as parameters; the only identifiers in SQL are fixed names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from contracts.rate_card import RATED_COLUMNS
from etl.costs.days import month_of
from etl.costs.rate_card_store import read_rate_card
from etl.costs.rate_cards import RateCard
from etl.costs.rating import EVENT_INPUT_SCHEMA, rate_events, summarize_unrated
from etl.costs.reconcile import reconcile
from etl.costs.schema import ensure_rollup_schema
from etl.costs.sqlfiles import sql_statements, sql_text
from etl.settings import DEFAULT_ROLLUP_DIMENSIONS
from etl.warehouse import transaction

log = logging.getLogger("meterhouse.rollups")


@dataclass(frozen=True)
class RollupReport:
    """What one rebuild did."""

    days: list[str]
    months: list[str]
    events: int = 0
    rated: int = 0
    source_cost: int = 0
    unrated: int = 0
    unrated_meters: dict[str, int] = field(default_factory=dict)
    cost_by_currency: dict[str, str] = field(default_factory=dict)
    rate_card_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for XCom and JSON."""
        return asdict(self)


def _days_table(con: Any, days: Sequence[date]) -> None:
    create_days, create_months = sql_statements("rollup_days")
    con.execute(create_days, [list(days)])
    con.execute(create_months)


def _events_for_rating(con: Any, card: RateCard | None) -> pl.DataFrame:
    """Events of the rebuilt days, plus, for monthly-tiered meters, the rest of their months
    (the tiers need every event of the period to know where each one falls)."""
    tiered_meters: list[str] = []
    if card is not None:
        tiered = card.tiered_rules().filter(pl.col("tier_period") == "month")
        tiered_meters = sorted(set(tiered["meter_name"].to_list()))
    frame = con.execute(sql_text("events_for_rating"), [tiered_meters]).pl()
    out: pl.DataFrame = frame.cast(dict(EVENT_INPUT_SCHEMA)).select(list(EVENT_INPUT_SCHEMA))
    return out


def rebuild_days(
    con: Any,
    days: Sequence[date],
    *,
    dimensions: Sequence[str] = DEFAULT_ROLLUP_DIMENSIONS,
) -> RollupReport:
    """Re-rate and replace the rollups of `days` (and of their months) in one transaction.

    Rated events and `cost_daily` rows of these days are deleted and rebuilt from the events
    and the current rate card, `cost_monthly` rows of their months are rebuilt from `cost_daily`,
    the result is reconciled against the events, and `rollup_state` remembers what was rolled up.
    Nothing is incremented, so a rebuild of the same days with the same inputs changes nothing.
    """
    days = sorted(set(days))
    months = sorted({month_of(d) for d in days})
    if not days:
        return RollupReport([], [])
    ensure_rollup_schema(con)
    card = read_rate_card(con)
    with transaction(con):
        _days_table(con, days)
        events = _events_for_rating(con, card)
        rated = rate_events(events, card or RateCard.empty()).filter(
            pl.col("event_date").is_in(days)
        )
        con.execute(sql_text("delete_rated_events"))
        con.register("incoming_rated", rated.to_arrow())
        cols = ", ".join(RATED_COLUMNS)
        con.execute(f"INSERT INTO rated_events ({cols}) SELECT {cols} FROM incoming_rated")  # noqa: S608
        con.unregister("incoming_rated")
        _rebuild_cost_daily(con, dimensions)
        _rebuild_cost_monthly(con)
        expected = {
            d: Decimal(str(c)) if c is not None else None
            for d, c in rated.group_by("event_date").agg(pl.col("rated_cost").sum()).iter_rows()
        }
        reconcile(con, days, expected_rated=expected)
        _mark_rolled_up(con, card.version if card else None)
        report = _report(con, days, months, events, rated, card)
    log.info(
        "step=rollup days=%d months=%d events=%d rated=%d source_cost=%d unrated=%d unrated_meters=%s",
        len(days), len(months), report.events, report.rated, report.source_cost, report.unrated,
        ",".join(f"{m}:{n}" for m, n in report.unrated_meters.items()) or "-",
    )  # fmt: skip
    if report.unrated:
        log.warning(
            "step=rollup unrated_events=%d meters=%s: no price matches them; they have no cost "
            "until the rate card prices them (view unrated_usage)",
            report.unrated, ", ".join(f"{m} ({n})" for m, n in report.unrated_meters.items()),
        )  # fmt: skip
    return report


def _rebuild_cost_daily(con: Any, dimensions: Sequence[str]) -> None:
    delete, insert = sql_statements("rebuild_cost_daily")
    con.execute(delete)
    con.execute(insert, [list(dimensions)])


def _rebuild_cost_monthly(con: Any) -> None:
    for statement in sql_statements("rebuild_cost_monthly"):
        con.execute(statement)


def _mark_rolled_up(con: Any, version: str | None) -> None:
    delete, insert = sql_statements("mark_rolled_up")
    con.execute(delete)
    con.execute(insert, [version, datetime.now(tz=UTC)])


def _report(
    con: Any,
    days: list[date],
    months: list[date],
    events: pl.DataFrame,
    rated: pl.DataFrame,
    card: RateCard | None,
) -> RollupReport:
    statuses = dict(rated.group_by("rate_status").len().iter_rows())
    unrated = summarize_unrated(events, rated)
    totals = con.execute(sql_text("rollup_totals")).fetchall()
    return RollupReport(
        days=[d.isoformat() for d in days],
        months=[m.isoformat() for m in months],
        events=rated.height,
        rated=int(statuses.get("rated", 0)),
        source_cost=int(statuses.get("source_cost", 0)),
        unrated=unrated.events,
        unrated_meters=unrated.meters,
        cost_by_currency={str(c): format(v, "f") for c, v in totals if v is not None},
        rate_card_version=card.version if card else None,
    )
