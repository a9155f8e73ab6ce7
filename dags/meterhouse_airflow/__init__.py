"""Glue between Airflow and the `etl` package: connections and settings, resolved at run time.

Nothing here runs at DAG-parse time except reading environment variables.
"""

from __future__ import annotations

from typing import Any

from etl.settings import AirflowSettings
from etl.sources.stores import S3Config

_CONFIG = AirflowSettings.from_env()
AWS_CONN_ID = _CONFIG.aws_conn_id
WAREHOUSE_POOL = _CONFIG.warehouse_pool
LANDING = _CONFIG.landing
INGEST_CRON = _CONFIG.ingest_cron
SENSOR_TIMEOUT_S = _CONFIG.sensor_timeout_s
SENSOR_POKE_S = _CONFIG.sensor_poke_s


def warehouse_asset() -> Any:
    """The Asset that `usage_ingest` updates and `usage_rollup` is scheduled on."""
    from airflow.sdk import Asset

    return Asset(name="meterhouse_warehouse", uri="file:///meterhouse/warehouse/meter_events")


def s3_config(conn_id: str = AWS_CONN_ID) -> S3Config:
    """S3 endpoint and credentials from an Airflow AWS connection (e.g. AIRFLOW_CONN_AWS_DEFAULT)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=conn_id)
    creds = hook.get_credentials()
    return S3Config(
        endpoint_url=hook.conn_config.endpoint_url,
        access_key_id=creds.access_key,
        secret_access_key=creds.secret_key,
        session_token=creds.token,
        region=hook.conn_region_name or "us-east-1",
    )


def split_landing(uri: str = LANDING) -> tuple[str, str]:
    """`s3://bucket/prefix/` -> (`bucket`, `prefix/`)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix
