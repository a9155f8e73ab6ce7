"""`meterhouse retract`: a source's rows leave the warehouse and the lake on purpose, in one
transaction; an unknown source is a clear error that changes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from etl.cli import main
from etl.jobs.ingest import ingest
from tests.integration._support import local_exports, q, rec, warehouse_digest, write_local

pytestmark = [pytest.mark.integration]


def _lake_events(lake: Path) -> list[tuple[str, str]]:
    with duckdb.connect() as con:
        return con.execute(
            "SELECT event_id, regexp_extract(source_uri, '[^/]+$') FROM read_parquet(?) ORDER BY 1",
            [str(lake / "meter_events" / "*" / "*.parquet")],
        ).fetchall()


def test_retract_removes_a_source_and_the_next_copy_takes_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, cfg = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("a1"), rec("shared", 2), rec("bad", "abc"))
    write_local(src, "b.ndjson", rec("b1"), rec("shared", 2))
    ingest([str(src)], cfg)
    wh = cfg.warehouse_path
    a = str(src / "a.ndjson")

    code = main(["retract", a, "--warehouse", str(wh)])

    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"retracted {a}: removed 2 events, 0 duplicates, 1 rejected rows; "
        "event days changed: 2026-09-21 .. 2026-09-21"
    )
    assert q(
        wh, "SELECT event_id, regexp_extract(source_uri, '[^/]+$') FROM meter_events ORDER BY 1"
    ) == [
        ("b1", "b.ndjson"),
        ("shared", "b.ndjson"),
    ]
    assert q(wh, "SELECT count(*) FROM rejected_rows") == [(0,)]
    assert q(wh, "SELECT count(*) FROM duplicate_events") == [(0,)]
    assert q(
        wh,
        "SELECT source_uri, status, rows_in, events_loaded, duplicates, rejected FROM ingest_ledger ORDER BY 1",
    ) == [(a, "retracted", 0, 0, 0, 0), (str(src / "b.ndjson"), "loaded", 2, 2, 0, 0)]
    assert _lake_events(cfg.lake_path) == [("b1", "b.ndjson"), ("shared", "b.ndjson")]

    # Still in the folder and unchanged: not loaded again, unless reprocessed.
    assert ingest([str(src)], cfg).files == []
    ingest([a], cfg, force=True)
    assert q(wh, "SELECT status, events_loaded FROM ingest_ledger WHERE source_uri = ?", [a]) == [
        ("loaded", 2)
    ]
    assert q(wh, "SELECT sum(quantity) FROM meter_events") == [(Decimal(5),)]


def test_retracting_an_unknown_source_is_an_error_that_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, cfg = local_exports(tmp_path)
    write_local(src, "a.ndjson", rec("a1"))
    ingest([str(src)], cfg)
    wh = cfg.warehouse_path
    before = warehouse_digest(wh)

    code = main(
        ["retract", str(src / "a.ndjson"), "s3://usage/ingest/nope.ndjson", "--warehouse", str(wh)]
    )

    assert code == 2
    assert capsys.readouterr().err == (
        f"meterhouse: not in the ingest ledger of {wh}: s3://usage/ingest/nope.ndjson; nothing "
        "was retracted. Give each source_uri exactly as `meterhouse status` or the "
        "ingest_ledger table shows it\n"
    )
    assert warehouse_digest(wh) == before
