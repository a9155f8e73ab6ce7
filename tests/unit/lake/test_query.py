"""The query sandbox on a tiny hand-made lake: exactly one SELECT runs, DuckDB reads only the
published tables' folders, views are defined from the table specs (never from a file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from contracts.lake import LakeTable
from etl.lake import (
    MARKER,
    LakeBehind,
    PublishMarker,
    QueryFailed,
    QueryRefused,
    lake_behind,
    query_published,
    run_select,
    views_sql,
)

TABLE = LakeTable("usage", "CREATE TABLE IF NOT EXISTS usage (\n    n INTEGER\n)", order="n")
TABLES = [TABLE]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    (root / "usage").mkdir(parents=True)
    with duckdb.connect() as con:
        target = str(root / "usage" / "part-0.parquet")
        con.execute(f"COPY (SELECT range::INTEGER AS n FROM range(5)) TO '{target}'")  # noqa: S608 - own temp path
    (root / "views.sql").write_text(views_sql(root, TABLES))
    (root / "secret.txt").write_text("not a table")
    return root


def test_selects_answer_with_parameters(lake: Path) -> None:
    assert query_published(
        lake, "SELECT sum(n) AS s FROM usage WHERE n < ?", [3], tables=TABLES
    ) == (
        ["s"],
        [(3,)],
    )
    for sql in (
        "FROM usage SELECT count(*)",
        "DESCRIBE usage",
        "SHOW TABLES",
        "SUMMARIZE usage",
        "VALUES (1)",
    ):
        assert query_published(lake, sql, tables=TABLES)[1]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1; SELECT 2", "2 statements"),
        ("", "0 statements"),
        ("COPY usage TO 'x.csv'", "COPY statement"),
        ("EXPLAIN ANALYZE COPY usage TO 'x.csv'", "EXPLAIN statement"),
        ("SET threads = 1", "SET statement"),
        ("PRAGMA enable_profiling", "PRAGMA statement"),
        ("CREATE TABLE t (a INT)", "CREATE statement"),
        ("DROP VIEW usage", "DROP statement"),
        ("INSTALL httpfs", "LOAD statement"),
        ("EXPORT DATABASE 'x'", "EXPORT statement"),
    ],
)
def test_anything_but_one_select_is_refused(lake: Path, sql: str, message: str) -> None:
    with pytest.raises(QueryRefused, match=f"^{message}"):
        query_published(lake, sql, tables=TABLES)
    assert sorted(p.name for p in lake.rglob("*")) == [
        "part-0.parquet",
        "secret.txt",
        "usage",
        "views.sql",
    ]


@pytest.mark.parametrize(
    "target",
    ["{lake}/secret.txt", "{lake}/views.sql", "{lake}/usage/../secret.txt", "/etc/passwd"],
)
def test_only_the_tables_folders_are_readable(lake: Path, target: str) -> None:
    path = target.format(lake=lake)
    with pytest.raises(QueryFailed, match="^Permission Error: Cannot access file"):
        query_published(lake, "SELECT * FROM read_text(?)", [path], tables=TABLES)


def test_run_select_checks_before_it_runs() -> None:
    with duckdb.connect() as con:
        with pytest.raises(QueryRefused):
            run_select(con, "CREATE TABLE t AS SELECT 1 AS a")
        assert run_select(con, "SELECT count(*) FROM duckdb_tables()")[1] == [(0,)]
        with pytest.raises(QueryFailed, match="^Parser Error"):
            run_select(con, "SELEC 1")


def test_views_sql_holds_no_absolute_path_and_runs_from_inside_the_lake(
    lake: Path, tmp_path: Path
) -> None:
    script = views_sql(lake, TABLES)
    assert str(lake) not in script and str(tmp_path) not in script
    moved = tmp_path / "mounted" / "lake"
    shutil.copytree(lake, moved)
    shutil.rmtree(lake)
    cwd = os.getcwd()
    os.chdir(moved)
    try:
        with duckdb.connect() as con:
            for statement in (moved / "views.sql").read_text().split(";\n"):
                if statement.strip():
                    con.execute(statement)
            assert con.execute("SELECT sum(n) FROM usage").fetchall() == [(10,)]
    finally:
        os.chdir(cwd)
    with duckdb.connect() as con:
        con.execute("SET file_search_path = ?", [str(moved)])
        for statement in (moved / "views.sql").read_text().split(";\n"):
            if statement.strip():
                con.execute(statement)
        assert con.execute("SELECT sum(n) FROM usage").fetchall() == [(10,)]
    # and the read path queries the copied folder where it now is
    assert query_published(moved, "SELECT sum(n) FROM usage", tables=TABLES)[1] == [(10,)]


def test_a_lake_left_behind_by_a_stopped_run_refuses_until_published(lake: Path) -> None:
    marker = PublishMarker(lake)
    marker.hold()
    # a writer at work: readers get the last published state
    assert lake_behind(lake) is None
    assert query_published(lake, "SELECT count(*) FROM usage", tables=TABLES)[1] == [(5,)]
    marker.release(current=False, error="disk full while writing warehouse x")
    reason = lake_behind(lake)
    assert reason is not None and reason.startswith(
        "disk full while writing warehouse x; not published since "
    )
    with pytest.raises(LakeBehind, match="is behind the warehouse .*run `meterhouse ingest` again"):
        query_published(lake, "SELECT count(*) FROM usage", tables=TABLES)
    marker.hold()
    marker.release(current=True)
    assert lake_behind(lake) is None and not (lake / MARKER).exists()
    assert query_published(lake, "SELECT count(*) FROM usage", tables=TABLES)[1] == [(5,)]
