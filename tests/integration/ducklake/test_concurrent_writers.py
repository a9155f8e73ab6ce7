"""Three writer processes load 300 files that overlap in event ids into one DuckLake (catalog
in Postgres, data in S3) at once; one is SIGKILLed inside a load; a rerun finishes. The result
equals one writer loading the same files into the DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import ingest
from etl.settings import Settings
from etl.warehouse import Warehouse
from tests.conftest import BUCKET, ROOT
from tests.integration.ducklake.overlapping import PREFIX, overlapping_files, put_files

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SOURCE = f"s3://{BUCKET}/{PREFIX}"
FILES = 300

# Everything a load decides, ingest times excluded: which copy of each id is stored, which
# copies are duplicates (of which file, conflicting or not), the ledger's counters.
DIGEST_QUERIES = {
    "events": "SELECT count(*), count(DISTINCT event_id), sum(quantity) FROM meter_events",
    "stored": "SELECT event_id, source_uri, source_row, quantity FROM meter_events ORDER BY event_id",
    "duplicates": """SELECT source_uri, source_row, event_id, duplicate_of_uri, conflict
                     FROM duplicate_events ORDER BY source_uri, source_row""",
    "ledger": """SELECT source_uri, status, rows_in, events_loaded, duplicates, rejected
                 FROM ingest_ledger ORDER BY source_uri""",
}


def _digest(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    wh = Warehouse(settings.warehouse_path, settings.lake_path, ducklake=settings.ducklake)
    return {name: wh.query(sql)[1] for name, sql in DIGEST_QUERIES.items()}


def _writer(prefix: str, uris: list[str], folder: Path, name: str, *extra: str) -> Any:
    listing = folder / f"{name}.txt"
    listing.write_text("\n".join(uris))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.ducklake._writer", prefix, str(listing), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_writers_one_killed_then_rerun_equal_one_duckdb_writer(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = overlapping_files(FILES)
    put_files(s3, files)
    uris = [f"s3://{BUCKET}/{key}" for key in sorted(files)]

    started = time.monotonic()
    # Round-robin: every writer's files share ids with the other writers' files, and each
    # block of three files (one per writer, loaded at the same time) shares ids of its own.
    writers = [
        _writer(SOURCE, uris[0::3], tmp_path, "w0"),
        _writer(SOURCE, uris[1::3], tmp_path, "w1", "kill-at:4"),
        _writer(SOURCE, uris[2::3], tmp_path, "w2"),
    ]
    outcomes = [w.communicate(timeout=240) for w in writers]
    codes = [w.returncode for w in writers]
    assert codes[1] == -9, outcomes[1][1][-2000:]
    assert codes[0] == 0 and codes[2] == 0, [o[1][-2000:] for o in outcomes]
    lake = Settings.from_env()
    partial = Warehouse(lake.warehouse_path, lake.lake_path, ducklake=lake.ducklake).ledger()
    # the killed writer committed its first 3 groups of 10 files, nothing of the 4th
    assert len(partial) == 200 + 30

    rerun = ingest([SOURCE], lake)
    assert len(rerun.files) == FILES - len(partial)
    assert all(f.status == "loaded" for f in rerun.files)
    lake_seconds = time.monotonic() - started
    on_lake = _digest(lake)

    for name in ducklake_env:
        monkeypatch.delenv(name)
    single = Settings.from_env(tmp_path / "single" / "warehouse.duckdb")
    ingest([SOURCE], single)
    on_file = _digest(single)

    assert on_lake["events"] == on_file["events"]
    count, distinct, _ = on_lake["events"][0]
    assert count == distinct  # no event id twice
    assert on_lake["stored"] == on_file["stored"]
    assert on_lake["duplicates"] == on_file["duplicates"]
    assert len(on_lake["ledger"]) == FILES
    assert on_lake["ledger"] == on_file["ledger"]
    ledger_loaded = sum(row[3] for row in on_lake["ledger"])
    ledger_dups = sum(row[4] for row in on_lake["ledger"])
    assert ledger_loaded == count
    assert ledger_dups == len(on_lake["duplicates"]) == FILES * 12 - count
    print(f"ducklake: 3 writers + rerun in {lake_seconds:.1f}s")
