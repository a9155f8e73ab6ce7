"""The task callables of `usage_rollup`; dags/usage_rollup.py wires them with `@task`.

etl is imported inside each callable: it pulls in polars and DuckDB, which DAG parsing and the
scheduler (which loads this plugin) do not need.
"""

# No `from __future__ import annotations` here: Airflow evaluates a task's return annotation to
# infer `multiple_outputs`, in the globals of the wrapper that `fail_on_terminal_error` adds.
import logging
from typing import Any

from meterhouse_airflow.config import COST_DAILY_ASSET, COST_MONTHLY_ASSET, WAREHOUSE_ASSET
from meterhouse_airflow.errors import fail_on_terminal_error
from meterhouse_airflow.s3 import s3_config

log = logging.getLogger("meterhouse.usage_rollup")


@fail_on_terminal_error
def load_rate_card(params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Validate and store the form's rate card (s3://bucket/key or a local path), if any.

    A bad rate card stays bad on retry: the task fails at once, with the row and column.
    """
    from etl.jobs.rollup import load_rate_card as load

    uri = (params or {}).get("rate_card")
    if not uri:
        return None
    s3 = s3_config() if str(uri).startswith("s3://") else None
    return load(str(uri), s3=s3)


@fail_on_terminal_error
def plan_days(
    loaded: dict[str, Any] | None,
    params: dict[str, Any] | None = None,
    triggering_asset_events: Any = None,
) -> list[str]:
    """The days to rebuild: the days the triggering ingest runs changed (their warehouse Asset
    events' `dates`), else every day whose events changed; plus the form's range / rate card
    period."""
    from etl.jobs.rollup import plan_rollup

    params = params or {}
    return plan_rollup(
        from_date=params.get("from_date"),
        to_date=params.get("to_date"),
        rerate=bool(params.get("rerate")),
        days=changed_days(triggering_asset_events),
    )


def changed_days(triggering_asset_events: Any) -> list[str] | None:
    """The union of the `dates` the triggering warehouse Asset events name; None (every
    pending day) when the run was not started by such events, or one of them does not say
    (an event posted by hand, or by an older usage_ingest)."""
    if not triggering_asset_events:
        return None
    events = list(triggering_asset_events.get(WAREHOUSE_ASSET, []))
    if not events:
        return None
    days: set[str] = set()
    for event in events:
        extra = getattr(event, "extra", None) or {}
        if not isinstance(extra.get("dates"), list):
            return None
        days.update(str(d) for d in extra["dates"])
    log.info("rolling up the %d days named by %d warehouse Asset events", len(days), len(events))
    return sorted(days)


@fail_on_terminal_error
def rebuild(days: list[str], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rate and roll up the days. A reconciliation difference was rolled back and fails at once:
    retrying the same inputs gives the same difference."""
    from etl.jobs.rollup import run_rollup

    return run_rollup(list(days), rerate=bool((params or {}).get("rerate")))


def report(summary: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
    """Log what the rollup did and warn about usage that no price matches.

    The cost Asset events it emits name the rebuilt `dates` and `months` (`YYYY-MM`).
    """
    if outlet_events is not None:
        extra = {
            "dates": list(summary["days"]),
            "months": sorted({m[:7] for m in summary["months"]}),
            "cost_by_currency": summary["cost_by_currency"],
        }
        outlet_events[COST_DAILY_ASSET].extra = extra
        outlet_events[COST_MONTHLY_ASSET].extra = extra
    log.info(
        "rolled up %d days (%d events: %d rated, %d with source cost, %d unrated); cost %s",
        len(summary["days"]),
        summary["events"],
        summary["rated"],
        summary["source_cost"],
        summary["unrated"],
        summary["cost_by_currency"],
    )
    if summary["unrated"]:
        log.warning(
            "%d events match no price and have no cost: %s (see the unrated_usage view)",
            summary["unrated"],
            summary["unrated_meters"],
        )
    return summary
