"""Prometheus samples in the warehouse, and usage recomputed from them per series x interval.

Why not plain meter events: an interval's usage depends on samples that may arrive in several
objects, in any order (a sender resends after a timeout, a late object lands after a newer
one), and on the last sample before the interval. Keep-first deduplication on event_id would
keep the first, partial answer. So the raw samples are stored, and the usage they imply is
recomputed and replaced:

1. `prometheus_series`: one row per mapped series (series_key = md5 of its labels as canonical
   JSON) with what the mapping made of it (meter, unit, kind, customer, dimensions, interval).
2. `prometheus_samples`: every sample once per (series_key, ts_ms); the first copy loaded
   wins, so a replayed or resent object adds nothing (and then recomputes nothing).
3. `prometheus_usage`: the exact usage per series x interval (integers: 1e-12 units, times
   milliseconds for gauges). Usage is a sum over consecutive sample pairs (a counter's
   increase, a gauge's hold), so new samples change only the pairs of their span: from the
   stored sample before a series' first new sample to the stored one after its last (each
   looked for up to `LOOKBACK_MS` away). The span's pairs as stored before are subtracted and
   its pairs now are added, so a load costs its own samples, not the interval's history.
4. The events of the intervals that changed (event_id `prometheus:<series_key>:<interval
   start ms>`) are deleted from `meter_events` and inserted anew from `prometheus_usage`,
   rounded once (half-even, 12 places).
5. `prometheus_unmapped`: samples of metrics the mapping does not name, per object and metric.

Everything happens in one transaction per object, with its ledger row (rows_in = samples of
mapped metrics; events_loaded = samples newly stored; duplicates = samples already stored;
rejected = samples of series without a customer). The events' source_uri is
`prometheus:series/<series_key>` (no ledger row: removing or retracting an object never
takes derived usage with it); `prometheus_samples.source_uri` names the object each sample
came from.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from contracts.meter_event import REJECT_COLUMNS
from etl.formats.base import PrometheusBatch
from etl.warehouse import ledger
from etl.warehouse.connection import Connection, transaction
from etl.warehouse.load import insert_rejects
from etl.warehouse.records import EMPTY, LOADED, LoadResult, SourceLoad
from etl.warehouse.sqlfiles import sql_statements, sql_text

LOOKBACK_MS = 86_400_000
"""How far before an interval its baseline sample is looked for: a counter silent for longer
starts again from its next sample (its increase over the silence is not counted)."""

_STAGE = sql_statements("prometheus_stage")
_TOUCHED = sql_statements("prometheus_touched")
_USAGE = sql_statements("prometheus_usage")
_REPLACE = sql_statements("prometheus_replace")
_META = sql_statements("prometheus_meta")
_CLEANUP = sql_statements("prometheus_cleanup")
_COUNT = dict(
    zip(("prom_in", "prom_new", "prom_span"), sql_statements("prometheus_counts"), strict=True)
)
UNMAPPED_REPORT = sql_text("prometheus_unmapped_report")
"""Unmapped metrics over every loaded object (metric, samples, objects, last_seen)."""


def load_prometheus(con: Connection, load: SourceLoad, batch: PrometheusBatch) -> LoadResult:
    """Store one landed object's samples and replace the usage of the intervals they touch,
    with its ledger row, in one transaction."""
    uri = load.source_uri
    now = ledger.now()
    with transaction(con):
        con.execute("DELETE FROM rejected_rows WHERE source_uri = ?", [uri])
        insert_rejects(con, load.rejects.select(REJECT_COLUMNS), now)
        con.register("incoming_unmapped", batch.unmapped.to_arrow())
        con.execute(_META[1], {"uri": uri})
        con.execute(_META[2], {"uri": uri, "now": now})
        con.unregister("incoming_unmapped")
        stored, touched = (
            _store_samples(con, uri, batch, now) if batch.samples.height else (0, set())
        )
        rows_in = batch.samples.height + batch.rejected
        status = LOADED if rows_in else EMPTY
        ledger.upsert_ledger(
            con,
            [
                {
                    "source_uri": uri,
                    "source_key": load.source_key,
                    "etag": load.etag,
                    "size_bytes": load.size_bytes,
                    "checksum_sha256": load.checksum_sha256,
                    "last_modified": load.last_modified,
                    "source_format": load.source_format,
                    "status": status,
                    "rows_in": rows_in,
                    "events_loaded": stored,
                    "duplicates": batch.samples.height - stored,
                    "rejected": batch.rejected,
                    "error": None,
                }
            ],
        )
        ledger.mark_lake_pending(con, rewrite=touched)
    return LoadResult(
        uri, status, rows_in, stored, batch.samples.height - stored, batch.rejected,
        frozenset(touched),
    )  # fmt: skip


def _store_samples(
    con: Connection, uri: str, batch: PrometheusBatch, now: object
) -> tuple[int, set[date]]:
    samples = batch.samples
    series = batch.series.join(
        samples.select("series_key", "metric", "labels", "metric_type").unique("series_key"),
        on="series_key",
    )
    con.register("incoming_series", series.to_arrow())
    con.execute(_META[0], {"now": now})
    con.unregister("incoming_series")
    lo, hi = samples.select(
        pl.col("ts_ms").min().alias("lo"), pl.col("ts_ms").max().alias("hi")
    ).row(0)
    con.register(
        "incoming_samples", samples.select("series_key", "ts_ms", "value", "value_e12").to_arrow()
    )
    con.execute(_STAGE[0])
    con.unregister("incoming_samples")
    con.execute(_STAGE[1])
    incoming = _count(con, "prom_in")
    if _count(con, "prom_new") < incoming:  # some at or before their series' latest stored
        con.execute(_STAGE[2], {"lo": lo, "hi": hi})
    stored = _count(con, "prom_new")
    if not stored:
        return 0, set()
    con.execute(_STAGE[3], {"uri": uri, "now": now})
    con.execute(_TOUCHED[0], {"lookback": LOOKBACK_MS})
    con.execute(_USAGE[0], {"lookback": LOOKBACK_MS})
    if _count(con, "prom_span"):
        con.execute(_USAGE[1])
    for statement in _USAGE[2:]:
        con.execute(statement)
    con.execute(_REPLACE[0])
    con.execute(_REPLACE[1], {"now": now})
    touched = {r[0] for r in con.execute(_REPLACE[2]).fetchall()}
    for statement in _CLEANUP:
        con.execute(statement)
    return stored, touched


def _count(con: Connection, table: str) -> int:
    return int(con.execute(_COUNT[table]).fetchone()[0])  # type: ignore[index]
