# ruff: noqa: S608 - the statements under test are attacks built from the test's own paths
"""`meterhouse sql` cannot write anywhere or read outside the published tables (issue 19,
finding 1): every escape is refused with one line on stderr and exit 2, and leaves every file
of the warehouse folder byte for byte as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.cli import main
from etl.jobs.ingest import ingest
from etl.settings import Settings

pytestmark = [pytest.mark.integration]

MS = 1_790_000_000_000  # 2026-09-21
DAY = "2026-09-21"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("escapes")
    exports = root / "exports"
    exports.mkdir()
    records = [
        {
            "customerId": "c1",
            "meterApiName": "gpu_hours",
            "meterValue": 2,
            "meterTimeInMillis": MS,
            "uniqueId": f"u{i}",
        }
        for i in range(3)
    ]
    (exports / "a.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    settings = Settings.from_env(root / "wh" / "warehouse.duckdb")
    ingest([str(exports)], settings)
    return settings


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _escapes(settings: Settings, outside: Path) -> list[str]:
    lake, wh = settings.lake_path, settings.warehouse_path
    forged = lake / "meter_events" / f"event_date={DAY}" / "part-9.parquet"
    return [
        # a forged part file changes published totals
        f"COPY (SELECT * FROM meter_events) TO '{forged}' (FORMAT parquet)",
        f"COPY (SELECT * FROM ingest_ledger LIMIT 0) TO '{lake}/ingest_ledger/part-0.parquet' (FORMAT parquet)",
        f"COPY (SELECT 'SELECT 1' AS x) TO '{lake}/views.sql' (HEADER false)",
        f"COPY (SELECT 1 AS x) TO '{outside}'",
        f"COPY meter_events TO '{lake}/meter_events/x.csv'",
        f"EXPORT DATABASE '{lake}/meter_events'",
        f"SELECT 1; COPY (SELECT 1 AS x) TO '{lake}/meter_events/y.csv'",
        "SELECT 1; SELECT 2",
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{lake}/meter_events/z.csv'",
        f"SELECT * FROM query('COPY (SELECT 1 AS x) TO ''{lake}/meter_events/q.csv''')",
        # reads outside the published tables
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM read_text('{lake}/views.sql')",
        f"SELECT * FROM read_text('{lake}/meter_events/../views.sql')",
        f"SELECT * FROM read_blob('{wh}')",
        f"ATTACH '{wh}' AS wh",
        f"ATTACH '{outside.parent}/other.duckdb' AS other",
        "DETACH memory",
        "USE memory",
        # extensions and settings
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET allowed_directories = ['/']",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET VARIABLE x = 1",
        "PRAGMA enable_profiling",
        f"PRAGMA profiling_output = '{lake}/meter_events/profile.json'",
        "PRAGMA force_checkpoint",
        "CALL pragma_version()",
        "CHECKPOINT",
        # the catalog
        "CREATE TABLE t AS SELECT 1 AS x",
        "CREATE VIEW v AS SELECT 1 AS x",
        "CREATE MACRO m(x) AS x + 1",
        "DROP VIEW meter_events",
        "DELETE FROM meter_events",
        "INSERT INTO meter_events SELECT * FROM meter_events",
        "SELECT FROM WHERE",  # a parse error is one line too
    ]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("live", [False, True], ids=["published", "live"])
def test_every_escape_is_refused_in_one_line_and_changes_no_file(
    loaded: Settings, capsys: pytest.CaptureFixture[str], live: bool
) -> None:
    folder = loaded.warehouse_path.parent
    outside = folder.parent / "stolen.csv"
    before = _snapshot(folder.parent)
    extra = ["--live"] if live else []
    escapes = _escapes(loaded, outside)
    if live:
        # --live reads the warehouse file by design (its own bytes included); nothing else
        escapes.remove(f"SELECT * FROM read_blob('{loaded.warehouse_path}')")
        escapes.append(f"COPY (SELECT 1 AS x) TO '{loaded.warehouse_path}.wal'")
    for sql in escapes:
        code, out, err = _run(capsys, "sql", sql, "--warehouse", str(loaded.warehouse_path), *extra)
        assert code == 2, (sql, out, err)
        assert out == "", sql
        assert len(err.strip().splitlines()) == 1 and err.startswith("meterhouse sql: "), (sql, err)
        assert "Traceback" not in err
    assert _snapshot(folder.parent) == before
    assert not outside.exists()
    assert not Path(f"{loaded.warehouse_path}.wal").exists()


@pytest.mark.parametrize("live", [False, True], ids=["published", "live"])
def test_statements_other_than_one_select_say_refused(
    loaded: Settings, capsys: pytest.CaptureFixture[str], live: bool
) -> None:
    extra = ["--live"] if live else []
    lake = loaded.lake_path
    for sql, reason in [
        (f"COPY meter_events TO '{lake}/meter_events/x.csv'", "COPY statement"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("SET enable_external_access = true", "SET statement"),
        ("PRAGMA enable_profiling", "PRAGMA statement"),
        ("CALL pragma_version()", "CALL statement"),
        ("CREATE TABLE t AS SELECT 1 AS x", "CREATE statement"),
        (f"ATTACH '{loaded.warehouse_path}' AS wh", "ATTACH statement"),
    ]:
        code, _, err = _run(capsys, "sql", sql, "--warehouse", str(loaded.warehouse_path), *extra)
        assert (code, err.split(";")[0]) == (2, f"meterhouse sql: refused: {reason}")
    code, _, err = _run(
        capsys,
        "sql",
        "SELECT * FROM read_text('/etc/passwd')",
        "--warehouse",
        str(loaded.warehouse_path),
        *extra,
    )
    assert code == 2
    assert err.startswith('meterhouse sql: Permission Error: Cannot access file "/etc/passwd"')


@pytest.mark.parametrize("live", [False, True], ids=["published", "live"])
def test_selects_of_every_form_still_answer(
    loaded: Settings, capsys: pytest.CaptureFixture[str], live: bool
) -> None:
    extra = ["--live"] if live else []
    for sql in (
        "SELECT count(*) AS n FROM meter_events",
        "FROM meter_events SELECT count(*) AS n",
        "WITH e AS (SELECT * FROM meter_events) SELECT count(*) AS n FROM e",
        "SELECT count(*) AS n FROM read_parquet('"
        + str(loaded.lake_path)
        + "/meter_events/*/*.parquet')"
        if not live
        else "VALUES (3)",
    ):
        code, out, err = _run(
            capsys, "sql", sql, "--warehouse", str(loaded.warehouse_path), "--format", "csv", *extra
        )
        assert (code, err, out.split()[-1]) == (0, "", "3"), sql
    for sql in ("DESCRIBE meter_events", "SHOW TABLES", "SUMMARIZE meter_events"):
        code, out, err = _run(capsys, "sql", sql, "--warehouse", str(loaded.warehouse_path), *extra)
        assert (code, err) == (0, ""), sql
        assert out


def test_a_views_script_planted_in_the_lake_is_never_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever can write the lake folder must not gain more than the lake: views.sql is for the
    DuckDB CLI only; `meterhouse sql` defines its views itself."""
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "a.ndjson").write_text(
        json.dumps(
            {
                "customerId": "c1",
                "meterApiName": "m",
                "meterValue": 1,
                "meterTimeInMillis": MS,
                "uniqueId": "u1",
            }
        )
    )
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    ingest([str(exports)], settings)
    outside = tmp_path / "written-by-the-script.csv"
    (settings.lake_path / "views.sql").write_text(
        "CREATE OR REPLACE TABLE pwned AS SELECT * FROM read_csv('/etc/passwd');\n"
        f"COPY (SELECT 1 AS x) TO '{outside}';\n"
        "CREATE OR REPLACE VIEW meter_events AS SELECT 42 AS forged;\n"
    )
    code, out, _ = _run(
        capsys,
        "sql",
        "SELECT count(*) AS n FROM meter_events",
        "--warehouse",
        str(settings.warehouse_path),
        "--format",
        "csv",
    )
    assert (code, out.split()) == (0, ["n", "1"])
    assert not outside.exists()
    code, _, err = _run(
        capsys, "sql", "SELECT * FROM pwned", "--warehouse", str(settings.warehouse_path)
    )
    assert code == 2 and err.startswith(
        "meterhouse sql: Catalog Error: Table with name pwned does not exist"
    )
