"""The lake grows by part files: a load that only adds rows to a day writes a new part file
for it instead of rewriting the day; a load that removes or replaces rows rewrites the day's
files range by range. Either way the lake holds exactly the warehouse's events, once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.jobs.ingest import ingest
from etl.settings import Settings
from etl.warehouse import Warehouse
from tests.integration._support import DAY_MS, MS, lake_digest, local_exports, q, rec, write_local

pytestmark = [pytest.mark.integration]

EVENTS = "SELECT event_id, quantity, source_uri FROM meter_events ORDER BY event_id, source_uri"


def _parts(settings: Settings) -> dict[str, list[str]]:
    base = settings.lake_path / "meter_events"
    return {
        d.name: sorted(p.name for p in d.glob("*.parquet"))
        for d in sorted(base.glob("event_date=*"))
    }


def _lake_equals_warehouse(settings: Settings) -> None:
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    _, lake_rows = wh.query_published(EVENTS)
    assert lake_rows == q(settings.warehouse_path, EVENTS)
    assert len({r[0] for r in lake_rows}) == len(lake_rows)


def test_new_rows_for_a_day_add_a_part_file_and_replacing_a_file_rewrites_the_day(
    tmp_path: Path,
) -> None:
    src, settings = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("a1"), rec("a2", ms=MS + DAY_MS))
    ingest([str(src)], settings)
    assert _parts(settings) == {
        "event_date=2026-09-21": ["part-0.parquet"],
        "event_date=2026-09-22": ["part-0.parquet"],
    }
    day1_before = (
        settings.lake_path / "meter_events/event_date=2026-09-22/part-0.parquet"
    ).read_bytes()

    write_local(src, "b.ndjson", rec("b1"), rec("a1"))  # one new event, one retry of a1
    ingest([str(src)], settings)
    parts = _parts(settings)
    assert parts["event_date=2026-09-21"][0] == "part-0.parquet"
    assert len(parts["event_date=2026-09-21"]) == 2  # part-0 + part-<ingest time>
    assert parts["event_date=2026-09-22"] == ["part-0.parquet"]  # untouched day not rewritten
    assert (
        settings.lake_path / "meter_events/event_date=2026-09-22/part-0.parquet"
    ).read_bytes() == day1_before
    _lake_equals_warehouse(settings)

    # a.ndjson re-uploaded without a1: b.ndjson's copy of a1 is promoted, the day is rewritten
    # file by file (same files, each with the rows of its ingest-time range)
    write_local(src, "a.ndjson", rec("a2", ms=MS + DAY_MS), rec("a3", 7))
    ingest([str(src)], settings)
    assert _parts(settings)["event_date=2026-09-21"] == parts["event_date=2026-09-21"]
    _lake_equals_warehouse(settings)
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(4,)]


def test_the_lake_after_many_appending_runs_equals_one_run(tmp_path: Path) -> None:
    src = tmp_path / "exports"
    src.mkdir()
    step = Settings.from_env(tmp_path / "step" / "warehouse.duckdb")
    for i in range(4):
        write_local(
            src, f"f{i}.ndjson", *(rec(f"e{i}-{j}", ms=MS + j * DAY_MS // 3) for j in range(6))
        )
        ingest([str(src)], step)
    once = Settings.from_env(tmp_path / "once" / "warehouse.duckdb")
    ingest([str(src)], once)

    assert max(len(files) for files in _parts(step).values()) == 4
    assert all(files == ["part-0.parquet"] for files in _parts(once).values())
    assert lake_digest(step.lake_path) == lake_digest(once.lake_path)
    _lake_equals_warehouse(step)


SMALL = {
    "duplicate_events": "SELECT event_id, source_uri, duplicate_of_uri FROM duplicate_events",
    "rejected_rows": "SELECT source_uri, source_row, rule FROM rejected_rows",
    "ingest_ledger": "SELECT source_uri, status, rows_in, events_loaded, duplicates FROM ingest_ledger",
}


def _small_tables_equal_warehouse(settings: Settings) -> None:
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    for sql in SMALL.values():
        _, lake_rows = wh.query_published(sql + " ORDER BY ALL")
        assert lake_rows == q(settings.warehouse_path, sql + " ORDER BY ALL")


def _files(settings: Settings, table: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (settings.lake_path / table).glob("*.parquet")}


def test_small_tables_gain_part_files_for_new_rows_and_are_left_alone_when_unchanged(
    tmp_path: Path,
) -> None:
    src, settings = local_exports(tmp_path)
    bad = {"customerId": "c", "meterApiName": "m", "meterValue": "x", "meterTimeInMillis": MS}
    write_local(src, "a.ndjson", rec("a1"), rec("a2"), rec("a2"), bad)
    ingest([str(src)], settings)
    assert sorted(_files(settings, "duplicate_events")) == ["part-0.parquet"]
    first = {t: _files(settings, t) for t in SMALL}

    # nothing new: no file is written again
    Warehouse(settings.warehouse_path, settings.lake_path).publish_lake()
    assert {t: _files(settings, t) for t in SMALL} == first

    # b only adds rows: one more part file each for duplicates and rejects, part-0 untouched
    write_local(src, "b.ndjson", rec("a1"), rec("b1"), bad)
    ingest([str(src)], settings)
    for table in ("duplicate_events", "rejected_rows"):
        now = _files(settings, table)
        assert len(now) == 2 and now["part-0.parquet"] == first[table]["part-0.parquet"]
    _small_tables_equal_warehouse(settings)

    # a replaced without a1 and without its bad row: b's copy of a1 is promoted, rows leave
    # the older files, so each file is rewritten for its range
    write_local(src, "a.ndjson", rec("a2"), rec("a3"))
    ingest([str(src)], settings)
    _small_tables_equal_warehouse(settings)
    assert q(settings.warehouse_path, "SELECT count(*) FROM duplicate_events") == [(0,)]
    assert q(settings.warehouse_path, "SELECT count(*) FROM rejected_rows") == [(1,)]
