"""S3 endpoint and credentials for `etl`, taken from an Airflow AWS connection at run time."""

from __future__ import annotations

from etl.sources.stores import S3Config
from meterhouse_airflow.config import AWS_CONN_ID


def s3_config(conn_id: str = AWS_CONN_ID) -> S3Config:
    """S3 settings from an Airflow AWS connection (e.g. AIRFLOW_CONN_AWS_DEFAULT).

    Call it inside a task, never at DAG-parse time: it resolves the connection and credentials.
    """
    # The amazon provider pulls in boto3: imported when a task needs it, not when DAGs parse.
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
