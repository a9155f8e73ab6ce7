"""Test services: a real S3 API on 127.0.0.1 (moto's server) and a throwaway Airflow home.

Environment is set before anything imports Airflow.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.alert_sink import AlertSink
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
PLUGINS = ROOT / "plugins"
_HOME = tempfile.mkdtemp(prefix="meterhouse-airflow-home-")



S3_PORT = free_port()
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
BUCKET = "usage"

os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        # the meterhouse plugin (failure alert listener) is loaded as in production
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": (
            '{"conn_type": "aws", "login": "test", "password": "test", '
            f'"extra": {{"endpoint_url": "{S3_ENDPOINT}", "region_name": "us-east-1"}}}}'
        ),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": S3_ENDPOINT,
        "METERHOUSE_LANDING": f"s3://{BUCKET}/ingest/",
        "METERHOUSE_SENSOR_TIMEOUT": "60",
        "METERHOUSE_SENSOR_POKE_INTERVAL": "2",
    }
)
for var in ("METERHOUSE_WAREHOUSE", "METERHOUSE_LAKE"):
    os.environ.pop(var, None)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server over real HTTP on a free localhost port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT)
    server.start()
    yield S3_ENDPOINT
    server.stop()


@pytest.fixture
def s3(s3_server: str) -> Any:
    """A boto3 client on an emptied server with the `usage` bucket."""
    import boto3
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """Settings for a fresh warehouse file in a temp dir."""
    from etl.settings import Settings

    return Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")


@pytest.fixture
def warehouse_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point METERHOUSE_WAREHOUSE at a temp file (what Airflow tasks read)."""
    path = tmp_path / "wh" / "warehouse.duckdb"
    monkeypatch.setenv("METERHOUSE_WAREHOUSE", str(path))
    monkeypatch.setenv("METERHOUSE_LAKE", str(path.parent / "lake"))
    return path


@pytest.fixture
def alert_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertSink]:
    """The Airflow connection `meterhouse_alerts` pointed at a local endpoint that records what
    is POSTed."""
    sink = AlertSink()
    monkeypatch.setenv("AIRFLOW_CONN_METERHOUSE_ALERTS", sink.connection_json())
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh Airflow metadata DB (SQLite) plus the warehouse pool."""
    from airflow.utils import db

    db.resetdb()
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("meterhouse_warehouse", slots=1, description="one warehouse writer", include_deferred=False)
    yield


# The real embedded stack, one per session, shared by tests/e2e and tests/browser.
from tests.live_stack import live_stack  # noqa: E402, F401
