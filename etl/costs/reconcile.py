"""Reconciliation: every rebuilt day's `cost_daily` totals equal the sums of its events, and every
month's `cost_monthly` the sums of its days; exact decimals."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from etl.costs.sqlfiles import sql_text
from etl.errors import TerminalError

log = logging.getLogger("meterhouse.rollups")

# The summed columns of cost_daily and cost_monthly, in reconcile_events.sql's order.
_SUM_COLUMNS = (
    "event_count",
    "quantity",
    "rated_cost",
    "billed_cost",
    "effective_cost",
    "cost",
    "unrated_events",
)


class ReconciliationError(TerminalError):
    """Rollup totals differ from the events beneath them; the rebuild was rolled back."""


def _differences(
    label: str, rollup: dict[Any, tuple[Any, ...]], truth: dict[Any, tuple[Any, ...]], source: str
) -> list[str]:
    problems = []
    missing = (None,) * len(_SUM_COLUMNS)
    for key in sorted(set(rollup) | set(truth)):
        got, want = rollup.get(key, missing), truth.get(key, missing)
        for column, g, w in zip(_SUM_COLUMNS, got, want, strict=True):
            if g != w:
                problems.append(
                    f"{label} {key}: {column} rollup={g} {source}={w} difference={(g or 0) - (w or 0)}"
                )
    return problems


def reconcile(
    con: Any, days: Iterable[date], *, expected_rated: dict[date, Decimal | None] | None = None
) -> None:
    """Check that every day's `cost_daily` totals equal the sums of its events (and, if given,
    of the rating output), and every month's `cost_monthly` the sums of its days; exact decimals.

    Raises ReconciliationError naming each day or month, column and difference.
    """
    days = sorted(set(days))
    if not days:
        return
    con.execute(sql_text("reconcile_days"), [days])
    sums = ", ".join(f"sum({c})" for c in _SUM_COLUMNS)
    rollup = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"SELECT event_date, {sums} FROM cost_daily WHERE event_date IN (SELECT day FROM reconcile_days) GROUP BY 1"  # noqa: S608
        ).fetchall()
    }
    truth = {r[0]: tuple(r[1:]) for r in con.execute(sql_text("reconcile_events")).fetchall()}
    problems = _differences("day", rollup, truth, "events")
    for day, missing, doubled in con.execute(sql_text("reconcile_coverage")).fetchall():
        if missing or doubled:
            problems.append(
                f"day {day}: {missing} events have no rating row, {doubled} have several"
            )
    if expected_rated is not None:
        for day in days:
            got = rollup.get(day, (None,) * len(_SUM_COLUMNS))[2]
            want = expected_rated.get(day)
            if (got or 0) != (want or 0):
                problems.append(
                    f"day {day}: rated_cost rollup={got} rating={want} difference={(got or 0) - (want or 0)}"
                )
    monthly = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"""SELECT month, {sums} FROM cost_monthly
                WHERE month IN (SELECT DISTINCT date_trunc('month', day)::DATE FROM reconcile_days) GROUP BY 1"""  # noqa: S608
        ).fetchall()
    }
    from_days = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"""SELECT date_trunc('month', event_date)::DATE, {sums} FROM cost_daily
                WHERE date_trunc('month', event_date)::DATE IN
                      (SELECT DISTINCT date_trunc('month', day)::DATE FROM reconcile_days) GROUP BY 1"""  # noqa: S608
        ).fetchall()
    }
    problems += _differences("month", monthly, from_days, "days")
    if problems:
        raise ReconciliationError(
            f"rollups do not reconcile with the events beneath them ({len(problems)} differences); "
            "the rebuild was rolled back:\n  " + "\n  ".join(problems[:20])
        )
    log.info("step=reconcile days=%d status=ok", len(days))
