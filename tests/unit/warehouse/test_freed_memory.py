"""DuckDB's freed pages go back to the OS when a load asks (etl.warehouse.connection)."""

from __future__ import annotations

import sys

import duckdb
import pytest

from etl.warehouse.connection import release_freed_memory


def _resident_mib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(sys.platform != "linux", reason="DuckDB links jemalloc on Linux only")
def test_the_pages_a_dropped_table_held_are_handed_back() -> None:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(
        "CREATE TABLE t AS SELECT i, repeat(i::VARCHAR, 20) AS s, random() AS r FROM range(4000000) r(i)"
    )
    con.execute("SELECT s, count(*) FROM t GROUP BY s ORDER BY 2 DESC LIMIT 1").fetchall()
    con.execute("DROP TABLE t")
    held = _resident_mib()
    assert release_freed_memory()
    # jemalloc had kept the table's pages for reuse; purged, they leave the process.
    assert _resident_mib() < held - 100
    con.close()
