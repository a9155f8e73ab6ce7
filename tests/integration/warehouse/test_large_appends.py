"""Files large enough that DuckDB writes their rows straight to disk (a full row group,
122,880 rows, or more) still see each other's event ids: a retry in the next file of an
event the previous file stored is a duplicate, never a second stored copy.

DuckDB 1.5.5 stops showing such an append to the connection that made it once an INSERT of
zero rows, read from a temporary table, goes into the same table in the same transaction
(the rows come back when the file is reopened). The duplicate ranking used to run such
empty INSERTs after every load, so every file after the second missed the ids of the file
before it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl.jobs.ingest import ingest
from tests.integration._support import MS, local_exports, q

pytestmark = [pytest.mark.integration]

ROWS = 125_000
"""Rows per file: more than one DuckDB row group."""
RETRIED = 1_000
"""Rows at the start of each file after the first that repeat the previous file's last rows."""
RESENT = 500
"""Rows each file repeats of its own, at its end (a retry within one export)."""


def _write(path: Path, first: int) -> None:
    """A CSV export of event ids first..first+ROWS-1, one second apart, then again its first
    RESENT rows."""
    ids = pl.concat(
        [
            pl.int_range(first, first + ROWS, eager=True),
            pl.int_range(first, first + RESENT, eager=True),
        ]
    )
    pl.DataFrame({"n": ids}).select(
        pl.lit("c1").alias("customerId"),
        pl.lit("gpu_hours").alias("meterApiName"),
        pl.lit("1.5").alias("meterValue"),
        (MS + pl.col("n") * 1000).alias("meterTimeInMillis"),
        pl.format("e-{}", pl.col("n")).alias("uniqueId"),
    ).write_csv(path)


def test_each_file_sees_the_ids_the_file_before_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERHOUSE_GROUP_ROWS", "1")  # one transaction per file
    src, settings = local_exports(tmp_path)
    step = ROWS - RETRIED
    for n in range(3):
        _write(src / f"usage-{n}.csv", n * step)

    report = ingest([str(src)], settings)

    assert [(f.events_loaded, f.duplicates) for f in report.files] == [
        (ROWS, RESENT),
        (step, RETRIED + RESENT),
        (step, RETRIED + RESENT),
    ]
    stored = q(
        settings.warehouse_path, "SELECT count(*), count(DISTINCT event_id) FROM meter_events"
    )
    assert stored == [(ROWS + 2 * step, ROWS + 2 * step)]
    assert q(settings.warehouse_path, "SELECT count(*) FROM duplicate_events") == [
        (2 * RETRIED + 3 * RESENT,)
    ]
