"""The lake grows by part files: a load that only adds rows to a day writes a new part file
for it instead of rewriting the day; a load that removes or replaces rows rewrites the day's
files range by range. Either way the lake holds exactly the warehouse's events, once each."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from etl.pipeline import ingest
from etl.settings import Settings
from etl.warehouse import Warehouse
from tests.integration._support import DAY_MS, MS, lake_digest, q, rec

pytestmark = [pytest.mark.integration]

EVENTS = "SELECT event_id, quantity, source_uri FROM meter_events ORDER BY event_id, source_uri"


def _write(folder: Path, name: str, *records: dict[str, object]) -> None:
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    os.utime(path, (MS / 1000 + 3600, MS / 1000 + 3600))


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
    src = tmp_path / "exports"
    src.mkdir()
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    _write(src, "a.ndjson", rec("a1"), rec("a2", ms=MS + DAY_MS))
    ingest([str(src)], settings)
    assert _parts(settings) == {
        "event_date=2026-09-21": ["part-0.parquet"],
        "event_date=2026-09-22": ["part-0.parquet"],
    }
    day1_before = (
        settings.lake_path / "meter_events/event_date=2026-09-22/part-0.parquet"
    ).read_bytes()

    _write(src, "b.ndjson", rec("b1"), rec("a1"))  # one new event, one retry of a1
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
    _write(src, "a.ndjson", rec("a2", ms=MS + DAY_MS), rec("a3", 7))
    ingest([str(src)], settings)
    assert _parts(settings)["event_date=2026-09-21"] == parts["event_date=2026-09-21"]
    _lake_equals_warehouse(settings)
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(4,)]


def test_the_lake_after_many_appending_runs_equals_one_run(tmp_path: Path) -> None:
    src = tmp_path / "exports"
    src.mkdir()
    step = Settings.from_env(tmp_path / "step" / "warehouse.duckdb")
    for i in range(4):
        _write(src, f"f{i}.ndjson", *(rec(f"e{i}-{j}", ms=MS + j * DAY_MS // 3) for j in range(6)))
        ingest([str(src)], step)
    once = Settings.from_env(tmp_path / "once" / "warehouse.duckdb")
    ingest([str(src)], once)

    assert max(len(files) for files in _parts(step).values()) == 4
    assert all(files == ["part-0.parquet"] for files in _parts(once).values())
    assert lake_digest(step.lake_path) == lake_digest(once.lake_path)
    _lake_equals_warehouse(step)
