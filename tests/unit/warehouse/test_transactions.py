"""transaction(): one block, committed or rolled back, with the block's error the one reported."""

from __future__ import annotations

import duckdb
import pytest

from etl.warehouse import transaction


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    return con


def count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_a_block_that_ends_is_committed(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1), (2)")
    assert count(con) == 2


def test_a_block_that_raises_is_rolled_back(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="boom"), transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")
    assert count(con) == 0


def test_the_blocks_error_is_reported_when_duckdb_already_rolled_back(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # After an I/O failure DuckDB aborts the transaction itself; a second ROLLBACK would fail
    # with "no transaction is active" and hide the real error.
    with pytest.raises(ValueError, match="disk full"), transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        con.execute("ROLLBACK")
        raise ValueError("disk full")
    assert count(con) == 0
    with transaction(con):  # the connection is usable again
        con.execute("INSERT INTO t VALUES (3)")
    assert count(con) == 1
