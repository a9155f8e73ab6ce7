"""The rating and rollup tables the warehouse creates are the ones the lake publishes."""

from __future__ import annotations

import duckdb
import pytest

from contracts.rollup_tables import ROLLUP_LAKE_TABLES, ROLLUP_TABLE_NAMES
from etl.costs.schema import ensure_rollup_schema


def columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]  # noqa: S608 - fixed names


def test_schema_creates_every_table_and_view() -> None:
    con = duckdb.connect()
    ensure_rollup_schema(con)
    ensure_rollup_schema(con)  # idempotent: views are replaced, tables kept
    for name in ROLLUP_TABLE_NAMES:
        assert columns(con, name)
    for view in ("cost_by_customer_month", "top_meters_by_cost", "unrated_usage"):
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)  # noqa: S608


@pytest.mark.parametrize("name", list(ROLLUP_LAKE_TABLES))
def test_the_lake_views_select_every_column_of_the_table(name: str) -> None:
    con = duckdb.connect()
    ensure_rollup_schema(con)
    assert ROLLUP_LAKE_TABLES[name].columns == columns(con, name)
