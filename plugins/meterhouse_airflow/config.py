"""Where the meterhouse DAGs find their connection, pool, landing prefix, schedule and Assets.

Every value comes from `etl.settings.AirflowSettings` (the environment), read once when a DAG
file or the plugin is imported; nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, Param

from etl.settings import AirflowSettings

SETTINGS = AirflowSettings.from_env()
AWS_CONN_ID = SETTINGS.aws_conn_id
WAREHOUSE_POOL = SETTINGS.warehouse_pool
LANDING = SETTINGS.landing
INGEST_CRON = SETTINGS.ingest_cron
SENSOR_TIMEOUT_S = SETTINGS.sensor_timeout_s
SENSOR_POKE_S = SETTINGS.sensor_poke_s

#: Every meterhouse DAG carries this tag; the failure alert listener acts on these DAGs only.
DAG_TAG = "meterhouse"

#: What every meterhouse DAG shares: no catchup (a backfill is asked for), one run at a time
#: (runs write the same warehouse), two retries a minute apart.
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": pendulum.datetime(2024, 1, 1, tz="UTC"),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
}


def day_param(title: str, description: str) -> Param:
    """An optional day (YYYY-MM-DD) in the trigger form: a date picker, empty by default."""
    return Param(None, type=["null", "string"], format="date", title=title, description=description)


#: Updated by every `usage_ingest` run that loaded (its `extra`: the event `dates` and
#: `months` the run changed); `usage_rollup` is scheduled on it.
WAREHOUSE_ASSET = Asset(
    name="meterhouse_warehouse", uri="file:///meterhouse/warehouse/meter_events"
)

#: Updated by `usage_rollup` (`extra`: the `dates` and `months` it rebuilt): schedule your own
#: DAGs (exports, invoices) on the costs.
COST_DAILY_ASSET = Asset(name="meterhouse_cost_daily", uri="meterhouse://costs/daily")
COST_MONTHLY_ASSET = Asset(name="meterhouse_cost_monthly", uri="meterhouse://costs/monthly")


def split_landing(uri: str = LANDING) -> tuple[str, str]:
    """`s3://bucket/prefix/` -> (`bucket`, `prefix/`)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


LANDING_BUCKET, LANDING_PREFIX = split_landing(LANDING)
