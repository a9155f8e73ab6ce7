"""The rollup job: what the CLI and the usage_rollup DAG call (plain values in and out,
XCom-friendly).

- `load_rate_card(uri)`: read, validate and store a rate card; nothing is re-rated.
- `plan_rollup(...)`: the ISO days to rebuild.
- `run_rollup(days)`: rebuild them (rate, roll up, reconcile, publish); the RollupReport as a dict.
- `rollup(...)`: both in one go (the CLI path).

Errors: `RateCardError` (a bad card) and `ReconciliationError` (the rebuild was rolled back) are
terminal, like a bad date (`TerminalError`); a retry gives the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from etl.costs.days import month_of, plan_days, plan_named_days
from etl.costs.publish import publish_rollups
from etl.costs.rate_card_store import mark_rerated, store_rate_card
from etl.costs.rate_cards import RateCardError, parse_rate_card
from etl.costs.reconcile import ReconciliationError
from etl.costs.rollups import RollupReport, rebuild_days
from etl.errors import TerminalError
from etl.settings import Settings
from etl.sources.stores import S3Config, open_source
from etl.warehouse import Connection, Warehouse

__all__ = [
    "RateCardError",
    "ReconciliationError",
    "load_rate_card",
    "plan_rollup",
    "rollup",
    "run_rollup",
]

log = logging.getLogger("meterhouse.rollups")


def _read_object(uri: str, s3: S3Config | None) -> bytes:
    store, key = open_source(uri, s3)
    for info in store.list(key):
        if info.key == key:
            return store.read(info)
    raise RateCardError(f"rate card {uri} not found; give an s3://bucket/key or a local file")


def _warehouse(settings: Settings | None) -> Warehouse:
    # The CLI checks that a --warehouse exists before it rolls up (a mistyped path must not
    # create one); a scheduled rollup before the first ingest starts an empty warehouse.
    # On a DuckLake every write below runs under the writers' commit lock (Warehouse.serialized):
    # a rollup never interleaves with a load's transaction.
    return Warehouse.of(settings or Settings.from_env())


def load_rate_card(
    uri: str, *, settings: Settings | None = None, s3: S3Config | None = None
) -> dict[str, Any]:
    """Read, validate and store a rate card from S3 or a local path; costs are not re-rated."""
    card = parse_rate_card(_read_object(uri, s3), uri)
    warehouse = _warehouse(settings)
    with warehouse.writer() as con:
        loaded = warehouse.serialized(lambda: store_rate_card(con, card, uri).to_dict())
        publish_rollups(warehouse, con)
    return loaded


def _parse_day(value: str | date | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TerminalError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from exc


def plan_rollup(
    *,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    rerate: bool = False,
    settings: Settings | None = None,
    days: Sequence[str] | None = None,
) -> list[str]:
    """ISO dates to rebuild: pending days, a requested range, the last rate card's period.

    `days` (ISO dates: those an ingest changed, from its warehouse Asset events): exactly
    those days (and the later days of their months that tiered prices make them change)
    instead of every pending day; a range or `rerate` given as well adds to them.
    """
    start, end = _parse_day(from_date, "from_date"), _parse_day(to_date, "to_date")
    if start and end and end < start:
        raise TerminalError(f"to_date {end} is before from_date {start}")
    named = [_parse_day(d, "days") for d in days] if days is not None else None

    def plan(con: Connection) -> list[date]:
        if named is None:
            return plan_days(con, start=start, end=end, rerate=rerate)
        chosen = set(plan_named_days(con, [d for d in named if d is not None]))
        if start or end or rerate:
            chosen |= set(plan_days(con, start=start, end=end, rerate=rerate))
        return sorted(chosen)

    warehouse = _warehouse(settings)
    with warehouse.writer() as con:
        planned = warehouse.serialized(lambda: plan(con))
    log.info(
        "step=plan_rollup days=%d first=%s last=%s named=%s",
        len(planned),
        planned[0] if planned else "-",
        planned[-1] if planned else "-",
        "all pending" if named is None else len(named),
    )
    return [d.isoformat() for d in planned]


def run_rollup(
    days: Sequence[str],
    *,
    rerate: bool = False,
    settings: Settings | None = None,
    dimensions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Rebuild the given days (ISO dates); returns the RollupReport as a dict."""
    parsed = [date.fromisoformat(d) for d in days]
    settings = settings or Settings.from_env()
    warehouse = _warehouse(settings)
    chosen = dimensions or settings.rollup_dimensions

    def rebuild(con: Connection) -> RollupReport:
        report = rebuild_days(con, parsed, dimensions=chosen)
        if rerate:
            mark_rerated(con)
        return report

    with warehouse.writer() as con:
        report = warehouse.serialized(lambda: rebuild(con))
        if parsed:
            publish_rollups(warehouse, con, parsed, [month_of(d) for d in parsed])
    return report.to_dict()


def rollup(
    *,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    rerate: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Plan and rebuild in one go (the CLI path)."""
    days = plan_rollup(from_date=from_date, to_date=to_date, rerate=rerate, settings=settings)
    return run_rollup(days, rerate=rerate, settings=settings)
