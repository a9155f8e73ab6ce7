"""usage_rollup: rate meter events and rebuild the cost rollups of the days that changed.

Runs whenever `usage_ingest` updates the warehouse Asset (data-aware scheduling). Each Asset
event names the event days its run changed (`extra["dates"]`): the rollup rebuilds exactly those
days (plus the later days of their months that tiered prices change). A run not started by such
events (a manual trigger) rebuilds every day whose events changed since its last rollup
(`rollup_state`). When done it updates the cost Assets `meterhouse://costs/daily` and
`meterhouse://costs/monthly`, their `extra` naming the rebuilt `dates` and `months`.

A manual trigger (Params form) can also
- rebuild a date range (`from_date`/`to_date`), re-rating it with the current rate card;
- load a new rate card (`rate_card`: s3://bucket/key or a local path) first. Loading a card
  never changes costs already rolled up by itself: tick `rerate` (or give the range) to re-rate
  the period the new card changes.

Writes go through the one-slot warehouse pool, like ingestion. The tasks' code is in
plugins/meterhouse_airflow/rollup_tasks.py; failure alerts come from the meterhouse plugin's
listener, as for every DAG tagged `meterhouse`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from meterhouse_airflow import rollup_tasks
from meterhouse_airflow.config import (
    COST_DAILY_ASSET,
    COST_MONTHLY_ASSET,
    DAG_DEFAULTS,
    DAG_TAG,
    WAREHOUSE_ASSET,
    WAREHOUSE_POOL,
    day_param,
)


@dag(
    dag_id="usage_rollup",
    description="Rate usage and rebuild cost_daily / cost_monthly for the days that changed",
    schedule=[WAREHOUSE_ASSET],
    tags=[DAG_TAG, "rating"],
    **DAG_DEFAULTS,
    params={
        "from_date": day_param(
            "From day",
            "First event day to re-rate and roll up (inclusive). Empty: only the "
            "days whose events changed. Only this field: that one day.",
        ),
        "to_date": day_param(
            "To day",
            "Last event day to re-rate and roll up (inclusive). Empty: same as From day.",
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
            type=["null", "boolean"],
            title="Re-rate the rate card's period",
            description="also re-rate every day whose price the most recently loaded rate card "
            "changed",
        ),
    },
)
def usage_rollup() -> None:
    load_rate_card = task(pool=WAREHOUSE_POOL, retries=0)(rollup_tasks.load_rate_card)
    plan_days = task(pool=WAREHOUSE_POOL)(rollup_tasks.plan_days)
    rebuild = task(pool=WAREHOUSE_POOL, max_active_tis_per_dag=1)(rollup_tasks.rebuild)
    report = task(outlets=[COST_DAILY_ASSET, COST_MONTHLY_ASSET])(rollup_tasks.report)

    report(rebuild(plan_days(load_rate_card())))


usage_rollup()
