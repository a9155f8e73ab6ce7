"""The DuckLake backend's settings and schema: chosen by METERHOUSE_WAREHOUSE_BACKEND, every
table of the DuckDB file created without what DuckLake cannot hold (checked on a real DuckLake
whose catalog is a local DuckDB file: the catalog database does not change the table rules)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.settings import Settings, SettingsError
from etl.warehouse.ducklake import (
    LAKE_EVENT_KEY_MACRO,
    LAKE_SCHEMA_DDL,
    extension_file,
    without_keys,
)


def _lake_with_schema(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A DuckLake under `tmp_path` (catalog in a local DuckDB file), its key macro defined and
    every table of the writer's schema created."""
    con = duckdb.connect()
    con.execute(f"LOAD '{extension_file('ducklake')}'")
    con.execute(
        f"ATTACH 'ducklake:{tmp_path / 'catalog.ducklake'}' AS lake (DATA_PATH '{tmp_path / 'data'}')"
    )
    con.execute("USE lake")
    con.execute(LAKE_EVENT_KEY_MACRO)
    for ddl in LAKE_SCHEMA_DDL:
        con.execute(ddl)
    return con


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
    con = _lake_with_schema(tmp_path)
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
        "rated_events",
        "cost_daily",
        "cost_monthly",
        "rollup_state",
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


def test_rollups_go_to_the_ducklake_never_to_a_duckdb_file(tmp_path: Path) -> None:
    from etl.errors import RetryableError
    from etl.jobs.rollup import plan_rollup
    from etl.settings import DuckLakeSettings

    settings = Settings(
        warehouse_path=tmp_path / "warehouse.duckdb",
        lake_path=tmp_path / "lake",
        ducklake=DuckLakeSettings(
            catalog="host=127.0.0.1 port=1 dbname=none connect_timeout=2", data_path=str(tmp_path)
        ),
    )
    with pytest.raises(RetryableError, match="cannot reach the DuckLake catalog"):
        plan_rollup(settings=settings)
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_what_rating_stores_survives_a_ducklake_exactly(tmp_path: Path) -> None:
    """The rollup tables exist on a DuckLake (rollup_state without its key), and the types
    rating stores (DECIMAL(38, 12), DECIMAL(38, 18), UBIGINT) come back from Parquet exactly,
    unlike HUGEINT."""
    from etl.costs.schema import ensure_rollup_schema

    con = _lake_with_schema(tmp_path)
    ensure_rollup_schema(con)  # the DuckDB file's DDL, key included: finds the tables
    con.execute(
        "INSERT INTO rollup_state SELECT DATE '2026-01-01' + range::INT, 'm', 1, now(), "
        "hash('x' || range), NULL, now() FROM range(1000)"
    )
    con.execute(
        "INSERT INTO rated_events (event_id, event_date, rate_status, rated_cost) "
        "SELECT 'e' || range, DATE '2026-01-01', 'rated', "
        "(range * 1234567.123456789012 + 12345678901234567890123456)::DECIMAL(38, 12) FROM range(1000)"
    )
    con.execute("CREATE TABLE huge (n HUGEINT)")
    con.execute("INSERT INTO huge SELECT 12345678901234567890123 + range FROM range(1000)")
    fingerprints = con.execute(
        "SELECT count(*) FROM rollup_state "
        "WHERE fingerprint = hash('x' || (event_date - DATE '2026-01-01'))"
    ).fetchone()
    costs = con.execute(
        "SELECT count(*) FROM rated_events WHERE rated_cost = "
        "(substr(event_id, 2)::BIGINT * 1234567.123456789012 + 12345678901234567890123456)::DECIMAL(38, 12)"
    ).fetchone()
    huge = con.execute(
        "SELECT count(*) FROM huge, range(1000) WHERE n = 12345678901234567890123 + range"
    ).fetchone()
    assert (fingerprints, costs) == ((1000,), (1000,))
    assert huge != (1000,)  # why rating's HUGEINT arithmetic stays in temporary tables
