"""Landed Prometheus remote-write objects are refused on a DuckLake, each file failed with an
error that says what to do, and nothing of them is stored."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import ingest
from etl.settings import Settings
from etl.warehouse import Warehouse
from tests.conftest import BUCKET
from tests.prometheus_usage import mapping_file

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PREFIX = "ingest/prometheus/"
LINE = b'{"labels":{"__name__":"requests_total","namespace":"a"},"samples":[[1000,1],[2000,3]]}\n'


def test_remote_write_objects_are_refused_on_a_ducklake(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two"):  # two objects: the group path and the one-by-one fallback
        s3.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}dt=2025-12-01/{name}.ndjson.gz", Body=gzip.compress(LINE)
        )
    monkeypatch.setenv("METERHOUSE_PROMETHEUS_MAPPING", str(mapping_file(tmp_path)))
    settings = Settings.from_env()
    report = ingest([f"s3://{BUCKET}/{PREFIX}"], settings)
    assert [f.status for f in report.files] == ["failed", "failed"]
    for f in report.files:
        assert f.error is not None
        assert (
            "load into the DuckDB warehouse only (METERHOUSE_WAREHOUSE_BACKEND=duckdb)" in f.error
        )
    warehouse = Warehouse.of(settings)
    assert warehouse.query("SELECT count(*) FROM prometheus_samples")[1] == [(0,)]
    assert warehouse.query("SELECT count(*) FROM meter_events")[1] == [(0,)]
