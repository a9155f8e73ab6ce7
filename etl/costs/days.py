"""Which days to rebuild.

`rollup_state` remembers, per event day and meter, a fingerprint of the events rolled up (count,
newest `ingested_at`, xor of row hashes). A day whose current events differ from it (new, late,
replaced or removed events) is pending. Graduated and volume tiers accumulate over a month, so a
pending day of a tiered meter also re-rates the later days of its month (graduated) or the whole
month (volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from etl.costs.rate_card_store import last_rate_card_period, read_rate_card
from etl.costs.rate_cards import RateCard
from etl.costs.schema import ensure_rollup_schema
from etl.costs.sqlfiles import sql_text


def month_of(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the month after `month`."""
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def pending_days(con: Any) -> dict[date, set[str]]:
    """Days (and their meters) whose events changed since they were last rolled up."""
    rows = con.execute(sql_text("pending_days")).fetchall()
    out: dict[date, set[str]] = {}
    for day, meter in rows:
        out.setdefault(day, set()).add(meter)
    return out


def known_days(con: Any, start: date | None = None, end: date | None = None) -> list[date]:
    """Days with events or with rollup state, optionally within [start, end] (inclusive)."""
    rows = con.execute(sql_text("known_days"), [start, start, end, end]).fetchall()
    return [r[0] for r in rows]


def expand_for_tiers(
    touched: dict[date, set[str]], card: RateCard | None, all_days: Sequence[date]
) -> list[date]:
    """Touched days plus the days whose tiered costs they change.

    A graduated price depends on the quantity used earlier in its month, so a change on day D
    re-rates D and the later days of that month; a volume price depends on the month's total, so
    the whole month. Day-period tiers and flat prices change nothing beyond the day itself.
    """
    days = set(touched)
    if card is None:
        return sorted(days)
    tiered = card.tiered_rules().filter(pl.col("tier_period") == "month")
    for day, meters in touched.items():
        month, following = month_of(day), next_month(month_of(day))
        for rule in tiered.iter_rows(named=True):
            if rule["meter_name"] not in meters:
                continue
            if rule["effective_from"] >= following or (
                rule["effective_to"] is not None and rule["effective_to"] <= month
            ):
                continue
            first = month if rule["pricing"] == "volume" else day
            days.update(d for d in all_days if first <= d < following)
    return sorted(days)


def plan_days(
    con: Any,
    *,
    start: date | None = None,
    end: date | None = None,
    rerate: bool = False,
) -> list[date]:
    """Days to rebuild: pending days, plus [start, end] and the last rate card's period on request."""
    ensure_rollup_schema(con)
    touched = pending_days(con)
    requested: list[date] = []
    if start is not None or end is not None:
        requested += known_days(con, start or end, end or start)
    if rerate:
        period = last_rate_card_period(con)
        if period is not None:
            requested += known_days(con, period[0], period[1] - timedelta(days=1))
    meters = {r[0] for r in con.execute(sql_text("rate_card_meters")).fetchall()}
    for day in requested:
        touched.setdefault(day, set()).update(meters)
    return expand_for_tiers(touched, read_rate_card(con), known_days(con))


def plan_named_days(con: Any, days: Sequence[date]) -> list[date]:
    """Exactly `days` (those with events or rollup state; the days an ingest says it changed),
    plus the later days of their months whose tiered costs they change; no other pending day."""
    ensure_rollup_schema(con)
    known = known_days(con)
    present = set(known)
    meters = {r[0] for r in con.execute(sql_text("rate_card_meters")).fetchall()}
    touched = {day: set(meters) for day in days if day in present}
    return expand_for_tiers(touched, read_rate_card(con), known)
