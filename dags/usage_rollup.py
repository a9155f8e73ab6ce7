"""usage_rollup: rate meter events and rebuild the cost rollups of the days that changed.

Runs whenever `usage_ingest` updates the warehouse Asset (data-aware scheduling). The Asset event
carries no dates: the rollup finds the days to rebuild itself, from `rollup_state` (days whose
events are new, late, replaced or removed since their last rollup).

A manual trigger (Params form) can also
- rebuild a date range (`from_date`/`to_date`), re-rating it with the current rate card;
- load a new rate card (`rate_card`: s3://bucket/key or a local path) first. Loading a card
  never changes costs already rolled up by itself: tick `rerate` (or give the range) to re-rate
  the period the new card changes.

Writes go through the one-slot warehouse pool, like ingestion.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from meterhouse_airflow import WAREHOUSE_POOL, warehouse_asset

WAREHOUSE = warehouse_asset()


@dag(
    dag_id="usage_rollup",
    description="Rate usage and rebuild cost_daily / cost_monthly for the days that changed",
    schedule=[WAREHOUSE],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["meterhouse", "rating"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "from_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="From day",
            description="First event day to re-rate and roll up (inclusive). Empty: only the "
            "days whose events changed. Only this field: that one day.",
        ),
        "to_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="To day",
            description="Last event day to re-rate and roll up (inclusive). Empty: same as From day.",
        ),
        "rate_card": Param(
            None,
            type=["null", "string"],
            title="Load rate card",
            description="s3://bucket/key or local path of a rate card (CSV or YAML, see "
            "docs/rating.md) to validate and load before rolling up",
        ),
        "rerate": Param(
            False,
            type="boolean",
            title="Re-rate the rate card's period",
            description="also re-rate every day whose price the most recently loaded rate card "
            "changed",
        ),
    },
)
def usage_rollup() -> None:
    @task(pool=WAREHOUSE_POOL, retries=0)
    def load_rate_card(params: dict | None = None) -> dict | None:
        from airflow.sdk.exceptions import AirflowFailException

        from etl.errors import TerminalError
        from etl.jobs.rollup import load_rate_card as load

        uri = (params or {}).get("rate_card")
        if not uri:
            return None
        s3 = None
        if str(uri).startswith("s3://"):
            from meterhouse_airflow import s3_config

            s3 = s3_config()
        try:
            return load(str(uri), s3=s3)
        except TerminalError as exc:
            # A bad rate card stays bad on retry: fail now with the row and column.
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL)
    def plan_days(loaded: dict | None, params: dict | None = None) -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from etl.errors import TerminalError
        from etl.jobs.rollup import plan_rollup

        params = params or {}
        try:
            return plan_rollup(
                from_date=params.get("from_date"),
                to_date=params.get("to_date"),
                rerate=bool(params.get("rerate")),
            )
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, max_active_tis_per_dag=1)
    def rebuild(days: list[str], params: dict | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from etl.jobs.rollup import ReconciliationError, run_rollup

        try:
            return run_rollup(list(days), rerate=bool((params or {}).get("rerate")))
        except ReconciliationError as exc:
            # The rebuild was rolled back; retrying the same inputs gives the same difference.
            raise AirflowFailException(str(exc)) from exc

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        import logging

        log = logging.getLogger("meterhouse.usage_rollup")
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

    report(rebuild(plan_days(load_rate_card())))


usage_rollup()
