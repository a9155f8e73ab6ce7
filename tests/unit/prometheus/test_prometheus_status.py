"""`meterhouse status` names the Prometheus metrics the mapping left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.cli import main
from etl.warehouse import Warehouse
from tests.prometheus_usage import T0, line, load_object, mapping_file, ndjson


def test_status_reports_unmapped_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wh = Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")
    data = ndjson(
        line({"__name__": "node_load1", "namespace": "x"}, [(T0, 1.0), (T0 + 1000, 2.0)]),
        line({"__name__": "node_load1", "namespace": "y"}, [(T0, 1.0)]),
        line({"__name__": "requests_total", "namespace": "a"}, [(T0, 1.0), (T0 + 1000, 3.0)]),
    )
    load_object(wh, "s3://b/prometheus/1.ndjson.gz", data, mapping_file(tmp_path))
    assert main(["status", "--warehouse", str(tmp_path / "wh.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "unmapped Prometheus metrics" in out
    row = next(x for x in out.splitlines() if "node_load1" in x)
    assert row.split()[:3] == ["node_load1", "3", "1"]
