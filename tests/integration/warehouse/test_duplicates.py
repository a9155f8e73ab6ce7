"""Duplicate resolution: which copy of an event_id is stored follows one rule (earliest
event_time, then smallest source_uri, then smallest source_row), whatever order files load in,
however often they are reprocessed; copies whose content differs are flagged as conflicts."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.cli import main
from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.integration._support import MS, local_exports, q, rec, warehouse_digest, write_local

pytestmark = [pytest.mark.integration]


def _total(wh: Path) -> Decimal:
    return q(wh, "SELECT coalesce(sum(quantity), 0) FROM meter_events")[0][0]


def test_reprocessing_keeps_the_copy_the_rule_picks_whatever_loaded_first(tmp_path: Path) -> None:
    src, cfg = local_exports(tmp_path)
    # The same uniqueId with different values; b.ndjson is uploaded and loaded first.
    write_local(src, "b.ndjson", rec("x", 5), rec("b-only", 1))
    ingest([str(src / "b.ndjson")], cfg)
    write_local(src, "a.ndjson", rec("x", 2), rec("a-only", 1))
    ingest([str(src)], cfg)
    wh = cfg.warehouse_path
    # Same event time: the smaller source_uri (a.ndjson) wins, although b.ndjson loaded first.
    kept = [(str(src / "a.ndjson"), Decimal(2))]
    assert q(wh, "SELECT source_uri, quantity FROM meter_events WHERE event_id = 'x'") == kept
    before = _total(wh)

    ingest([str(src)], cfg, force=True)
    ingest([str(src / "b.ndjson")], cfg, force=True)

    assert q(wh, "SELECT source_uri, quantity FROM meter_events WHERE event_id = 'x'") == kept
    assert _total(wh) == before == Decimal(4)
    assert q(
        wh,
        "SELECT source_uri, rows_in, events_loaded, duplicates FROM ingest_ledger ORDER BY 1",
    ) == [(str(src / "a.ndjson"), 2, 2, 0), (str(src / "b.ndjson"), 2, 1, 1)]


def test_the_earliest_event_time_wins_over_the_file_name(tmp_path: Path) -> None:
    src, cfg = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("x", 2, ms=MS + 1000))
    write_local(src, "b.ndjson", rec("x", 5, ms=MS))

    ingest([str(src)], cfg)

    assert q(cfg.warehouse_path, "SELECT source_uri, quantity FROM meter_events") == [
        (str(src / "b.ndjson"), Decimal(5))
    ]


def test_a_duplicate_with_other_content_is_a_conflict_and_a_retry_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, cfg = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("same", 1), rec("differs", 1))
    write_local(src, "b.ndjson", rec("same", 1), rec("differs", 7))

    ingest([str(src)], cfg)

    wh = cfg.warehouse_path
    assert q(
        wh,
        "SELECT event_id, source_uri, duplicate_of_uri, conflict FROM duplicate_events ORDER BY 1",
    ) == [
        ("differs", str(src / "b.ndjson"), str(src / "a.ndjson"), True),
        ("same", str(src / "b.ndjson"), str(src / "a.ndjson"), False),
    ]
    # The lake publishes the flag too.
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT event_id, conflict FROM read_parquet(?) ORDER BY 1",
            [str(cfg.lake_path / "duplicate_events" / "*.parquet")],
        ).fetchall()
    assert rows == [("differs", True), ("same", False)]
    # `meterhouse status` counts the conflicts apart from plain retries.
    assert main(["status", "--warehouse", str(wh)]) == 0
    assert "duplicate_events: 2 copies of stored events, 1 of them conflicting" in (
        capsys.readouterr().out
    )


def test_a_file_removed_from_the_winner_hands_over_to_the_next_copy_by_the_rule(
    tmp_path: Path,
) -> None:
    src, cfg = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("x", 1), rec("keep-a", 1))
    write_local(src, "c.ndjson", rec("x", 3))
    write_local(src, "b.ndjson", rec("x", 2))
    ingest([str(src)], cfg)
    # a.ndjson re-uploaded without x: b.ndjson's copy (next by source_uri) is stored, c's
    # copy now points at it.
    write_local(src, "a.ndjson", rec("keep-a", 1))
    os.utime(src / "a.ndjson", (MS / 1000 + 7200, MS / 1000 + 7200))

    ingest([str(src)], cfg)

    wh = cfg.warehouse_path
    assert q(wh, "SELECT source_uri, quantity FROM meter_events WHERE event_id = 'x'") == [
        (str(src / "b.ndjson"), Decimal(2))
    ]
    assert q(wh, "SELECT source_uri, duplicate_of_uri, conflict FROM duplicate_events") == [
        (str(src / "c.ndjson"), str(src / "b.ndjson"), True)
    ]
    assert q(wh, "SELECT source_uri, events_loaded, duplicates FROM ingest_ledger ORDER BY 1") == [
        (str(src / "a.ndjson"), 1, 0),
        (str(src / "b.ndjson"), 1, 0),
        (str(src / "c.ndjson"), 0, 1),
    ]


# -- property: any load order, any reprocessing, the same warehouse -----------------------------

FILES = ("a.ndjson", "b.ndjson", "c.ndjson", "d.ndjson")
copy = st.fixed_dictionaries(
    {
        "uid": st.sampled_from(["u1", "u2", "u3"]),
        "value": st.sampled_from([1, 2, 3]),
        # within the dedup window: copies of an id are always compared
        "minute": st.integers(0, 3),
    }
)
exports = st.lists(st.lists(copy, min_size=1, max_size=4), min_size=len(FILES), max_size=len(FILES))
# A load plan: files loaded one by one in some order, then some reprocessed with --force,
# one by one or as a folder.
plan = st.tuples(
    st.permutations(list(range(len(FILES)))),
    st.lists(st.one_of(st.integers(0, len(FILES) - 1), st.none()), max_size=3),
)


def _write(src: Path, contents: list[list[dict[str, Any]]]) -> None:
    for name, copies in zip(FILES, contents, strict=True):
        write_local(
            src, name, *[rec(c["uid"], c["value"], ms=MS + c["minute"] * 60_000) for c in copies]
        )


def _state(cfg: Settings) -> dict[str, Any]:
    digest = warehouse_digest(cfg.warehouse_path)
    wh = cfg.warehouse_path
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        lake_events = con.execute(
            "SELECT * EXCLUDE (ingested_at) FROM read_parquet(?, hive_partitioning = true) ORDER BY ALL",
            [str(cfg.lake_path / "meter_events" / "*" / "*.parquet")],
        ).fetchall()
    return {
        "meter_events": digest["meter_events"],
        "duplicate_events": digest["duplicate_events"],
        "ingest_ledger": digest["ingest_ledger"],
        "lake_meter_events": lake_events,
        "total": _total(wh),
    }


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(contents=exports, plan=plan)
def test_any_load_order_and_reprocessing_give_the_same_warehouse(
    contents: list[list[dict[str, Any]]], plan: tuple[list[int], list[int | None]]
) -> None:
    order, reprocess = plan
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src, cfg = local_exports(root)
        _write(src, contents)
        ingest([str(src)], cfg)
        expected = _state(cfg)

        # A fresh warehouse (and lake) over the same files, loaded in another order.
        shutil.rmtree(cfg.warehouse_path.parent)
        for i in order:
            ingest([str(src / FILES[i])], cfg)
        assert _state(cfg) == expected
        for step in reprocess:
            ingest([str(src) if step is None else str(src / FILES[step])], cfg, force=True)
            assert _state(cfg) == expected


def test_a_streamed_file_finds_the_copies_other_files_store_as_a_whole_file_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A large file is deduplicated against its own earlier chunks as it streams, and against
    the other files once, when its chunks are merged: the ledger, the stored copies and the
    duplicates' pointers equal those of the same file loaded in one piece."""
    stored = [rec("x", 2, ms=MS), rec("y", 3, ms=MS)]
    big = [
        rec("x", 2, ms=MS),  # stored by a.ndjson: a duplicate of it
        *[rec(f"n{i}", 1, ms=MS + i) for i in range(60)],
        rec("x", 2, ms=MS),  # again, many chunks later
        rec("n5", 1, ms=MS + 5),  # a copy of one of its own rows
        rec("y", 3, ms=MS - 1000),  # earlier than a.ndjson's copy: this one is kept
    ]
    for name, chunk_bytes in (("whole", None), ("streamed", 400)):
        (tmp_path / name).mkdir()
        src, cfg = local_exports(tmp_path / name)
        write_local(src, "a.ndjson", *stored)
        ingest([str(src / "a.ndjson")], cfg)
        write_local(src, "b.ndjson", *big)
        if chunk_bytes is not None:
            cfg = dataclasses.replace(cfg, chunk_bytes=chunk_bytes, typed_load=False)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="meterhouse.pipeline"):
            report = ingest([str(src / "b.ndjson")], cfg)
        chunks = [r for r in caplog.records if r.getMessage().startswith("step=chunk ")]
        assert len(chunks) > (5 if chunk_bytes else -1) and (chunk_bytes or not chunks)
        assert [(f.rows_in, f.rejected) for f in report.files] == [(64, 0)]
        wh = cfg.warehouse_path
        assert q(
            wh,
            "SELECT source_uri.split('/')[-1], rows_in, events_loaded, duplicates "
            "FROM ingest_ledger ORDER BY 1",
        ) == [("a.ndjson", 2, 1, 1), ("b.ndjson", 64, 61, 3)]
        assert q(
            wh,
            "SELECT event_id, source_uri.split('/')[-1] FROM meter_events "
            "WHERE event_id IN ('x', 'y') ORDER BY 1",
        ) == [("x", "a.ndjson"), ("y", "b.ndjson")]
        assert q(
            wh,
            "SELECT event_id, source_uri.split('/')[-1], source_row, "
            "duplicate_of_uri.split('/')[-1] FROM duplicate_events ORDER BY ALL",
        ) == [
            ("n5", "b.ndjson", 63, "b.ndjson"),
            ("x", "b.ndjson", 1, "a.ndjson"),
            ("x", "b.ndjson", 62, "a.ndjson"),
            ("y", "a.ndjson", 2, "b.ndjson"),
        ]
