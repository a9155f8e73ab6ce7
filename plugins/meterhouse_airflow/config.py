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

#: Updated by `usage_ingest` when anything loaded; `usage_rollup` is scheduled on it.
WAREHOUSE_ASSET = Asset(name="meterhouse_warehouse", uri="file:///meterhouse/warehouse/meter_events")


def split_landing(uri: str = LANDING) -> tuple[str, str]:
    """`s3://bucket/prefix/` -> (`bucket`, `prefix/`)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


LANDING_BUCKET, LANDING_PREFIX = split_landing(LANDING)
