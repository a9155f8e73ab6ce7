"""`meterhouse retract` on a DuckLake removes the source from the DuckLake (not from a DuckDB
file beside it), leaving what the same retraction leaves in the DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from etl.jobs.ingest import ingest
from etl.jobs.retract import retract
from etl.settings import Settings
from etl.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MS = 1_790_000_000_000
QUERIES = {
    "events": "SELECT event_id, source_uri, quantity FROM meter_events ORDER BY ALL",
    "duplicates": "SELECT event_id, source_uri, duplicate_of_uri FROM duplicate_events ORDER BY ALL",
    "ledger": "SELECT source_uri, status, events_loaded, duplicates FROM ingest_ledger ORDER BY ALL",
}


def _files(folder: Path) -> tuple[str, str]:
    folder.mkdir()
    for name, ids in (("a.ndjson", range(0, 10)), ("b.ndjson", range(5, 15))):
        (folder / name).write_text(
            "\n".join(
                json.dumps(
                    {
                        "customerId": "c1",
                        "meterApiName": "gpu_hours",
                        "meterValue": i,
                        "meterTimeInMillis": MS,
                        "uniqueId": f"e{i}",
                    }
                )
                for i in ids
            )  # fmt: skip
        )
    return str(folder), str(folder / "a.ndjson")


def _retracted(settings: Settings, source: str, a: str) -> dict[str, list[tuple[Any, ...]]]:
    ingest([source], settings)
    (result,) = retract([a], settings)
    assert result.events + result.duplicates == 10
    warehouse = Warehouse.of(settings)
    return {name: warehouse.query(sql)[1] for name, sql in QUERIES.items()}


def test_retract_on_ducklake_equals_the_duckdb_file(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, a = _files(tmp_path / "src")
    lake = Settings.from_env()
    on_lake = _retracted(lake, source, a)
    assert not lake.warehouse_path.exists()
    for name in ducklake_env:
        monkeypatch.delenv(name)
    on_file = _retracted(Settings.from_env(tmp_path / "wh.duckdb"), source, a)
    assert on_lake == on_file
    # b's copies of e5..e9 took the retracted file's place
    assert [r[0] for r in on_lake["events"]] == [f"e{i}" for i in sorted(range(5, 15), key=str)]
    assert [r[1] for r in on_lake["ledger"]] == ["retracted", "loaded"]
