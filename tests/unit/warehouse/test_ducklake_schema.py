"""The DuckLake backend's settings and schema: chosen by METERHOUSE_WAREHOUSE_BACKEND, every
table of the DuckDB file created without what DuckLake cannot hold (checked on a real DuckLake
whose catalog is a local DuckDB file: the catalog database does not change the table rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.settings import Settings, SettingsError
from etl.warehouse.ducklake import (
    LAKE_EVENT_KEY_MACRO,
    LAKE_SCHEMA_DDL,
    extension_file,
    without_keys,
)


def test_the_duckdb_file_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERHOUSE_WAREHOUSE_BACKEND", raising=False)
    assert Settings.from_env().ducklake is None


def test_ducklake_needs_its_catalog_and_data_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERHOUSE_WAREHOUSE_BACKEND", "ducklake")
    monkeypatch.delenv("METERHOUSE_DUCKLAKE_CATALOG", raising=False)
    monkeypatch.setenv("METERHOUSE_DUCKLAKE_DATA_PATH", "s3://lake/wh/")
    with pytest.raises(SettingsError, match="needs METERHOUSE_DUCKLAKE_CATALOG \\("):
        Settings.from_env()
    monkeypatch.setenv("METERHOUSE_DUCKLAKE_CATALOG", "host=pg dbname=meterhouse")
    lake = Settings.from_env().ducklake
    assert lake is not None
    assert (lake.catalog, lake.data_path) == ("host=pg dbname=meterhouse", "s3://lake/wh/")
    monkeypatch.setenv("METERHOUSE_WAREHOUSE_BACKEND", "iceberg")
    with pytest.raises(
        SettingsError, match="METERHOUSE_WAREHOUSE_BACKEND='iceberg': must be duckdb"
    ):
        Settings.from_env()


def test_keys_are_dropped() -> None:
    ddl = "CREATE TABLE t (\n    a VARCHAR PRIMARY KEY,\n    b INT,\n    PRIMARY KEY (a, b)\n)"
    assert without_keys(ddl) == "CREATE TABLE t (\n    a VARCHAR,\n    b INT\n)"


def test_every_table_is_created_on_a_ducklake_and_keeps_event_keys_exact(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{extension_file('ducklake')}'")
    con.execute(
        f"ATTACH 'ducklake:{tmp_path / 'catalog.ducklake'}' AS lake (DATA_PATH '{tmp_path / 'data'}')"
    )
    con.execute("USE lake")
    con.execute(LAKE_EVENT_KEY_MACRO)
    for ddl in LAKE_SCHEMA_DDL:
        con.execute(ddl)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'"
        ).fetchall()
    }
    assert {
        "meter_events",
        "duplicate_events",
        "ingest_ledger",
        "rejected_rows",
        "focus_line_items",
    } <= tables
    assert "lake_pending" not in tables
    # 1,000 keys through a Parquet data file (more rows than DuckLake inlines in its catalog)
    con.execute(
        "INSERT INTO meter_events (event_id, customer_id, meter_name, quantity, event_time, event_date, "
        "source_format, source_uri, source_row, ingested_at, event_key) "
        "SELECT 'ev-' || range, 'c', 'm', 1, now(), current_date, 'f', 'u', range, now(), "
        "event_key_of('ev-' || range) FROM range(1000)"
    )
    assert con.execute(
        "SELECT count(*) FROM meter_events WHERE event_key = event_key_of(event_id)"
    ).fetchone() == (1000,)


def test_rollups_refuse_a_ducklake_instead_of_rating_an_empty_file(tmp_path: Path) -> None:
    from etl.errors import TerminalError
    from etl.jobs.rollup import plan_rollup
    from etl.settings import DuckLakeSettings

    settings = Settings(
        warehouse_path=tmp_path / "warehouse.duckdb",
        lake_path=tmp_path / "lake",
        ducklake=DuckLakeSettings(catalog="host=127.0.0.1 dbname=none", data_path=str(tmp_path)),
    )
    with pytest.raises(TerminalError, match="rating and rollups run on the DuckDB warehouse only"):
        plan_rollup(settings=settings)
    assert not (tmp_path / "warehouse.duckdb").exists()
