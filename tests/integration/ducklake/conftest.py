"""DuckLake fixtures: a Postgres cluster for the catalog (one per session, a database per
test) and the data path in the moto S3 server's bucket."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BUCKET
from tests.postgres_server import PostgresServer

_NAMES = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway Postgres on 127.0.0.1 (fails, never skips, when Postgres is missing)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def ducklake_env(
    postgres: PostgresServer, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """METERHOUSE_WAREHOUSE_BACKEND=ducklake with a fresh catalog database and data files
    under s3://usage/lake/ (the moto server); returns the variables set."""
    env = {
        "METERHOUSE_WAREHOUSE_BACKEND": "ducklake",
        "METERHOUSE_DUCKLAKE_CATALOG": postgres.create_database(f"lake{next(_NAMES)}"),
        "METERHOUSE_DUCKLAKE_DATA_PATH": f"s3://{BUCKET}/lake/",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
