"""Where the meterhouse DAGs find their connection, pool, landing prefix, schedule and Assets.

Every value comes from `etl.settings.AirflowSettings` (the environment), read once when a DAG
file or the plugin is imported; nothing here does I/O.
"""

from __future__ import annotations

from airflow.sdk import Asset

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

#: Updated by every `usage_ingest` run that loaded (its `extra`: the event `dates` and
#: `months` the run changed); `usage_rollup` is scheduled on it.
WAREHOUSE_ASSET = Asset(name="meterhouse_warehouse", uri="file:///meterhouse/warehouse/meter_events")

#: Updated by `usage_rollup` (`extra`: the `dates` and `months` it rebuilt): schedule your own
#: DAGs (exports, invoices) on the costs.
COST_DAILY_ASSET = Asset(name="meterhouse_cost_daily", uri="meterhouse://costs/daily")
COST_MONTHLY_ASSET = Asset(name="meterhouse_cost_monthly", uri="meterhouse://costs/monthly")


def split_landing(uri: str = LANDING) -> tuple[str, str]:
    """`s3://bucket/prefix/` -> (`bucket`, `prefix/`)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


LANDING_BUCKET, LANDING_PREFIX = split_landing(LANDING)
