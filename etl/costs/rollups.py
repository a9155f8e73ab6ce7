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
from typing import Any

from etl.costs.days import month_of
from etl.costs.rating import (
    DEFAULT_PARTITION_EVENTS,
    prepare_rating,
    rate_partition,
    rating_partitions,
    select_days,
)
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


def _card_version(con: Any) -> str | None:
    versions = con.execute(sql_text("rate_card_version")).fetchall()
    return str(versions[0][0]) if versions else None


def rebuild_days(
    con: Any,
    days: Sequence[date],
    *,
    dimensions: Sequence[str] = DEFAULT_ROLLUP_DIMENSIONS,
    partition_events: int = DEFAULT_PARTITION_EVENTS,
) -> RollupReport:
    """Re-rate and replace the rollups of `days` (and of their months) in one transaction.

    Rated events and `cost_daily` rows of these days are deleted and rebuilt from the events
    and the current rate card, one meter x month partition at a time (etl.costs.rating; at most
    `partition_events` events in memory at once), `cost_monthly` rows of their months are
    rebuilt from `cost_daily`, the result is reconciled against the events, and `rollup_state`
    remembers what was rolled up. Nothing is incremented, so a rebuild of the same days with
    the same inputs changes nothing.
    """
    days = sorted(set(days))
    months = sorted({month_of(d) for d in days})
    if not days:
        return RollupReport([], [])
    ensure_rollup_schema(con)
    version = _card_version(con)
    with transaction(con):
        select_days(con, days)
        prepare_rating(con)
        con.execute(sql_text("delete_rated_events"))
        con.execute(sql_text("delete_cost_daily"))
        partitions = 0
        for partition in rating_partitions(con, partition_events):
            if rate_partition(con, partition, version):
                con.execute(sql_text("insert_cost_daily"), [list(dimensions)])
            partitions += 1
        _rebuild_cost_monthly(con)
        expected = dict(con.execute(sql_text("rated_cost_by_day")).fetchall())
        reconcile(con, days, expected_rated=expected)
        _mark_rolled_up(con, version)
        report = _report(con, days, months, version)
    log.info(
        "step=rollup days=%d months=%d partitions=%d events=%d rated=%d source_cost=%d unrated=%d unrated_meters=%s",
        len(days), len(months), partitions, report.events, report.rated, report.source_cost,
        report.unrated, ",".join(f"{m}:{n}" for m, n in report.unrated_meters.items()) or "-",
    )  # fmt: skip
    if report.unrated:
        log.warning(
            "step=rollup unrated_events=%d meters=%s: no price matches them; they have no cost "
            "until the rate card prices them (view unrated_usage)",
            report.unrated, ", ".join(f"{m} ({n})" for m, n in report.unrated_meters.items()),
        )  # fmt: skip
    return report


def _rebuild_cost_monthly(con: Any) -> None:
    for statement in sql_statements("rebuild_cost_monthly"):
        con.execute(statement)


def _mark_rolled_up(con: Any, version: str | None) -> None:
    delete, insert = sql_statements("mark_rolled_up")
    con.execute(delete)
    con.execute(insert, [version, datetime.now(tz=UTC)])


def _report(con: Any, days: list[date], months: list[date], version: str | None) -> RollupReport:
    statuses = {str(k): int(n) for k, n in con.execute(sql_text("rollup_statuses")).fetchall()}
    unrated_meters = {
        str(m): int(n) for m, n in con.execute(sql_text("rollup_unrated_meters")).fetchall()
    }
    totals = con.execute(sql_text("rollup_totals")).fetchall()
    return RollupReport(
        days=[d.isoformat() for d in days],
        months=[m.isoformat() for m in months],
        events=sum(statuses.values()),
        rated=statuses.get("rated", 0),
        source_cost=statuses.get("source_cost", 0),
        unrated=statuses.get("unrated", 0),
        unrated_meters=unrated_meters,
        cost_by_currency={str(c): format(v, "f") for c, v in totals if v is not None},
        rate_card_version=version,
    )
