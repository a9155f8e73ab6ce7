"""Lineage: every ledger row names the run that loaded it (an Airflow run and try, or `cli` and
the OS user), older warehouses get the columns, `list_runs` / `warehouse_status` read them, and
the Usage & cost page links a file to its Airflow run."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.jobs.ingest import ingest, ingest_batch_dicts
from etl.jobs.runs import list_runs, warehouse_status
from etl.settings import Settings
from etl.sources.discovery import list_sources
from tests.integration._support import MS, rec, write_local

pytestmark = [pytest.mark.integration]

LINEAGE = "SELECT source_uri, run_id, dag_id, try_number, os_user, run_started_at FROM ingest_ledger ORDER BY 1"


def _rows(settings: Settings, sql: str = LINEAGE) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def test_an_airflow_batch_records_its_run_and_try(src: Path, settings: Settings) -> None:
    write_local(src, "a.ndjson", rec("u1"), rec("u2"))
    (src / "broken.bin").write_bytes(b"\x00\x01 not usage data")
    started = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    batch = [o.to_dict() for o in list_sources([str(src)])]
    run = {"run_id": "scheduled__2026-12-01T00:00:00+00:00", "dag_id": "usage_ingest", "try_number": 2, "run_started_at": started.isoformat()}  # fmt: skip
    ingest_batch_dicts(batch, settings=settings, run=run)
    user = getpass.getuser()
    assert _rows(settings) == [
        (str(src / "a.ndjson"), run["run_id"], "usage_ingest", 2, user, started),
        (str(src / "broken.bin"), run["run_id"], "usage_ingest", 2, user, started),  # failures too
    ]
    (entry,) = list_runs(settings)
    assert entry == {
        "run_id": run["run_id"], "dag_id": "usage_ingest", "try_number": 2, "os_user": user,
        "started_at": started.isoformat(), "finished_at": entry["finished_at"], "files": 2, "failed": 1,
        "rows_in": 2, "events_loaded": 2, "rejected": 0, "duplicates": 0,
        "duration_s": entry["duration_s"],
    }  # fmt: skip
    assert entry["finished_at"] > entry["started_at"] and entry["duration_s"] > 0


def test_cli_loads_record_cli_and_the_user_one_run_per_command(src: Path, settings: Settings) -> None:
    write_local(src, "a.ndjson", rec("u1"))
    ingest([str(src)], settings)
    write_local(src, "b.ndjson", rec("u2"), rec("u1", ms=MS))  # u1 again: a duplicate
    ingest([str(src)], settings)
    rows = _rows(settings)
    assert [r[1:5] for r in rows] == [("cli", None, None, getpass.getuser())] * 2
    assert rows[0][5] < rows[1][5]  # each command has its own start
    newest, oldest = list_runs(settings)
    assert (newest["files"], newest["rows_in"], newest["events_loaded"], newest["duplicates"]) == (1, 2, 1, 1)
    assert (oldest["files"], oldest["rows_in"]) == (1, 1)
    assert list_runs(settings, limit=1) == [newest]

    status = warehouse_status(settings)
    assert status["warehouse"] == str(settings.warehouse_path)
    (loaded,) = status["files_by_status"]
    assert (loaded["status"], loaded["files"], loaded["rows_in"], loaded["events_loaded"], loaded["duplicates"]) == ("loaded", 2, 3, 2, 1)  # fmt: skip
    assert status["events"]["events"] == 2 and status["failed_files"] == []
    assert status["duplicate_events"] == {"copies": 1, "conflicting": 0}
    assert status["last_run"] == newest


def test_an_older_warehouse_gets_the_columns_and_keeps_its_rows(src: Path, settings: Settings) -> None:
    write_local(src, "a.ndjson", rec("u1"))
    ingest([str(src)], settings)
    # As a warehouse written before the ledger recorded runs.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        for column in ("run_id", "dag_id", "try_number", "os_user", "run_started_at"):
            con.execute(f"ALTER TABLE ingest_ledger DROP COLUMN {column}")
    (old,) = list_runs(settings)  # readable before any migration: one unrecorded run
    assert (old["run_id"], old["files"]) == (None, 1)

    write_local(src, "b.ndjson", rec("u2"))
    ingest([str(src)], settings)  # the writer adds the columns; the old row keeps NULLs
    rows = _rows(settings)
    assert [r[1] for r in rows] == [None, "cli"]
    assert [(r["run_id"], r["files"]) for r in list_runs(settings)] == [("cli", 1), (None, 1)]


def test_the_usage_page_links_a_file_to_its_airflow_run(src: Path, settings: Settings) -> None:
    from etl.jobs.usage_report import ReportFilters, usage_report
    from meterhouse_airflow.ui.page import render_page

    (src / "broken.bin").write_bytes(b"\x00\x01 not usage data")
    # Two event days: DuckDB 1.5.5 fails on max(event_date) over a lake of one partition.
    write_local(src, "a.ndjson", rec("u1"), rec("u2", ms=MS + 86_400_000))
    run_id = "manual__2026-12-01T10:00:00+00:00"
    batch = [o.to_dict() for o in list_sources([str(src)])]
    ingest_batch_dicts(batch, settings=settings, run={"run_id": run_id, "dag_id": "usage_ingest", "try_number": 1})
    today = datetime.now(UTC).date()
    report = usage_report(ReportFilters(start=today, end=today), settings)
    (failed,) = report["failed_files"]
    assert (failed["run_dag_id"], failed["run_id"]) == ("usage_ingest", run_id)
    assert report["ledger_has_runs"] is True
    page = render_page(report)
    link = '<a href="../dags/usage_ingest/runs/manual__2026-12-01T10%3A00%3A00%2B00%3A00" data-airflow-link>'
    assert f"{link}{run_id}</a>" in page
