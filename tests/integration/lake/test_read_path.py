"""SQL users read the published lake: a long load never blocks them and they never break it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from etl.errors import MeterhouseError
from etl.samples.amberflo import generate_amberflo_exports, summarize_exports
from etl.settings import Settings
from etl.warehouse import Warehouse
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration]


def _write_exports(folder: Path, days: int, customers: int) -> int:
    exports = generate_amberflo_exports(start=date(2026, 8, 1), days=days, customers=customers, seed=9)
    for key, data in exports:
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return summarize_exports(exports).distinct_event_ids


def test_queries_run_throughout_a_long_load(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    expected = _write_exports(exports, days=12, customers=120)
    wh_path = tmp_path / "wh" / "warehouse.duckdb"
    settings = Settings.from_env(wh_path)
    warehouse = Warehouse(settings.warehouse_path, settings.lake_path)
    env = {**os.environ, "METERHOUSE_BATCH_FILES": "8", "PYTHONPATH": str(ROOT)}
    loader = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "ingest", str(exports), "--warehouse", str(wh_path), "--quiet", "--strict"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    counts: list[int] = []
    while loader.poll() is None:
        if not wh_path.exists():
            # Until the loader creates it, there is no warehouse to read (a mistyped path).
            time.sleep(0.01)
            continue
        _, rows = warehouse.query_published("SELECT count(*) FROM meter_events")
        counts.append(rows[0][0])
        time.sleep(0.05)
    output = loader.stdout.read().decode() if loader.stdout else ""
    assert loader.returncode == 0, output
    assert len(counts) >= 20, "the load finished before readers could overlap with it"
    assert len(set(counts)) >= 3, f"readers never saw the load progress: {sorted(set(counts))}"
    # partitions are only ever replaced by supersets during a pure-add load
    assert counts == sorted(counts)
    _, rows = warehouse.query_published("SELECT count(*), count(DISTINCT event_id) FROM meter_events")
    assert rows == [(expected, expected)]
    _, ledger = warehouse.query_published("SELECT count(*) FROM ingest_ledger WHERE status = 'loaded'")
    assert ledger[0][0] > 0


def test_read_path_cannot_modify_or_escape(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    _write_exports(exports, days=1, customers=5)
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    from etl.jobs.ingest import ingest

    ingest([str(exports)], settings)
    warehouse = Warehouse(settings.warehouse_path, settings.lake_path)
    _, before = warehouse.query_published("SELECT count(*) FROM meter_events")
    outside = tmp_path / "stolen.csv"
    for sql in (
        f"COPY (SELECT * FROM meter_events) TO '{outside}'",  # noqa: S608 - the attack under test
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
        f"ATTACH '{settings.warehouse_path}' AS wh",
    ):
        with pytest.raises(MeterhouseError):
            warehouse.query_published(sql)
    assert not outside.exists()
    # the live path opens the DuckDB file read-only
    for sql in ("DELETE FROM meter_events", "DROP TABLE ingest_ledger", "CREATE TABLE x (a INT)"):
        with pytest.raises(MeterhouseError):
            warehouse.query(sql)
    assert warehouse.query("SELECT count(*) FROM meter_events")[1] == before
    assert warehouse.query_published("SELECT count(*) FROM meter_events")[1] == before


def test_empty_warehouse_reads_as_empty_tables(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "new" / "warehouse.duckdb", tmp_path / "new" / "lake")
    with warehouse.writer():
        pass  # a warehouse file, nothing published
    assert warehouse.query_published("SELECT count(*) FROM meter_events")[1] == [(0,)]
    assert warehouse.query_published("SELECT count(*) FROM ingest_ledger")[1] == [(0,)]
