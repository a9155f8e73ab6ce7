"""Cross-file duplicates are found by meter_events.event_key (the id's 128-bit MD5): every
stored row carries the key of its event_id however it got there, a warehouse written before
the key existed gets it on first open, and the key never reaches the lake."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.integration._support import DAY_MS, MS, local_exports, q, rec, write_local

pytestmark = [pytest.mark.integration]

KEYS_WRONG = (
    "SELECT count(*) FROM meter_events WHERE event_key IS DISTINCT FROM md5_number(event_id)"
)


def test_keys_are_added_to_an_older_warehouse_and_kept_through_every_kind_of_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, settings = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("a1"), rec("a2", ms=MS + DAY_MS))
    ingest([str(src)], settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # as written before the key
        con.execute("ALTER TABLE meter_events DROP COLUMN event_key")

    # b retries a1 (found through the keys the first open computes) and adds b1
    write_local(src, "b.ndjson", rec("b1"), rec("a1"))
    ingest([str(src)], settings)
    assert q(settings.warehouse_path, KEYS_WRONG) == [(0,)]
    assert q(
        settings.warehouse_path,
        "SELECT event_id, source_uri LIKE '%b.ndjson' FROM duplicate_events",
    ) == [("a1", True)]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events ORDER BY event_id") == [
        ("a1",),
        ("a2",),
        ("b1",),
    ]

    # a re-uploaded without a1: b's copy is promoted and carries its key
    write_local(src, "a.ndjson", rec("a2", ms=MS + DAY_MS))
    ingest([str(src)], settings)
    assert q(
        settings.warehouse_path,
        "SELECT event_id, source_uri LIKE '%b.ndjson' FROM meter_events ORDER BY event_id",
    ) == [("a1", True), ("a2", False), ("b1", True)]
    assert q(settings.warehouse_path, KEYS_WRONG) == [(0,)]

    # a large file loads in chunks through the staging tables: keys staged and kept, and a
    # retry inside it of a stored event (and of its own earlier chunk) is a duplicate
    monkeypatch.setenv("METERHOUSE_CHUNK_BYTES", "1")
    monkeypatch.setenv("METERHOUSE_CHUNK_ROWS", "3")
    big = Settings.from_env(settings.warehouse_path)
    write_local(src, "c.ndjson", *(rec(f"c{i}") for i in range(8)), rec("b1"), rec("c0"))
    ingest([str(src)], big)
    assert q(settings.warehouse_path, KEYS_WRONG) == [(0,)]
    assert q(
        settings.warehouse_path,
        "SELECT event_id, regexp_extract(duplicate_of_uri, '[a-z]\\.ndjson') "
        "FROM duplicate_events WHERE source_uri LIKE '%c.ndjson' ORDER BY event_id",
    ) == [("b1", "b.ndjson"), ("c0", "c.ndjson")]
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(11,)]

    # the lake holds the event columns only
    lake = duckdb.connect()
    columns = {
        r[0]
        for r in lake.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)",
            [str(settings.lake_path / "meter_events" / "*" / "*.parquet")],
        ).fetchall()
    }
    assert "event_key" not in columns and "event_id" in columns
