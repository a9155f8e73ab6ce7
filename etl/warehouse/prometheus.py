"""Prometheus samples in the warehouse, and usage recomputed from them per series x interval.

Why not plain meter events: an interval's usage depends on samples that may arrive in several
objects, in any order (a sender resends after a timeout, a late object lands after a newer
one), and on the last sample before the interval. Keep-first deduplication on event_id would
keep the first, partial answer. So the raw samples are stored, and the usage they imply is
recomputed and replaced:

1. `prometheus_series`: one row per mapped series (series_key = md5 of its labels as canonical
   JSON) with what the mapping made of it (meter, unit, kind, customer, dimensions, interval).
2. `prometheus_points`: every sample once per (series_id, ts_ms); the first copy loaded
   wins, so a replayed or resent object adds nothing (and then recomputes nothing). Numbers
   only: the series' (given when it is first stored) and its object's (`prometheus_objects`);
   the `prometheus_samples` view shows them with the series key and the object's URI.
3. `prometheus_usage`: the exact usage per series x interval (integers: 1e-12 units, times
   milliseconds for gauges). Usage is a sum over consecutive sample pairs (a counter's
   increase, a gauge's hold), so new samples change only the pairs of their span: from the
   stored sample before a series' first new sample to the stored one after its last (each
   looked for as far away as a pair may be and still count). The span's pairs as stored before are subtracted and
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

from collections.abc import Sequence
from datetime import date

import polars as pl

from contracts.meter_event import REJECT_COLUMNS
from etl.formats.base import PrometheusBatch
from etl.warehouse import ledger
from etl.warehouse.connection import Connection, scalar, transaction
from etl.warehouse.load import insert_rejects
from etl.warehouse.records import EMPTY, LOADED, LoadResult, SourceLoad
from etl.warehouse.sqlfiles import sql_statements, sql_text

COUNTER_GAP_MS = 86_400_000
"""The longest silence a counter's increase is counted across: after a longer one the next
sample is a new baseline (what happened during the silence is not known; the process most
likely restarted). A gauge's limit is its max_gap. Either holds the same whether a pair's two
samples arrive in one object or in two, in either order."""

_STAGE = sql_statements("prometheus_stage")
_RULES = sql_statements("prometheus_rules")
_TOUCHED = sql_statements("prometheus_touched")
_USAGE = sql_statements("prometheus_usage")
_REPLACE = sql_statements("prometheus_replace")
_META = sql_statements("prometheus_meta")
_CLEANUP = sql_statements("prometheus_cleanup")
_ANY_LATE = sql_statements("prometheus_counts")[0]
UNMAPPED_REPORT = sql_text("prometheus_unmapped_report")
"""Unmapped metrics over every loaded object (metric, samples, objects, last_seen)."""


def load_prometheus(con: Connection, load: SourceLoad, batch: PrometheusBatch) -> LoadResult:
    """Store one landed object's samples and replace the usage of the intervals they touch,
    with its ledger row, in one transaction."""
    return load_prometheus_group(con, [(load, batch)])[0]


def load_prometheus_group(
    con: Connection, loads: Sequence[tuple[SourceLoad, PrometheusBatch]]
) -> list[LoadResult]:
    """`load_prometheus` for several objects (distinct URIs) in one transaction: each keeps
    its ledger row, rejects and unmapped counts; a sample in several of them is stored from
    the first (as if they were loaded one after the other), and the usage is computed once
    for all of their samples. Far cheaper per sample than one transaction per object."""
    now = ledger.now()
    with transaction(con):
        for load, batch in loads:
            uri = load.source_uri
            con.execute("DELETE FROM rejected_rows WHERE source_uri = ?", [uri])
            insert_rejects(con, load.rejects.select(REJECT_COLUMNS), now)
            con.register("incoming_unmapped", batch.unmapped.to_arrow())
            con.execute(_META[1], {"uri": uri})
            con.execute(_META[2], {"uri": uri, "now": now})
            con.unregister("incoming_unmapped")
        stored, touched = _store_samples(
            con, [batch for _, batch in loads], [load.source_uri for load, _ in loads], now
        )
        results = []
        for i, (load, batch) in enumerate(loads):
            rows_in = batch.samples.height + batch.rejected
            kept = stored.get(i, 0)
            results.append(
                LoadResult(
                    load.source_uri, LOADED if rows_in else EMPTY, rows_in, kept,
                    batch.samples.height - kept, batch.rejected,
                    frozenset(touched if kept else ()),
                )
            )  # fmt: skip
        ledger.upsert_ledger(
            con,
            [
                {
                    "source_uri": load.source_uri,
                    "source_key": load.source_key,
                    "etag": load.etag,
                    "size_bytes": load.size_bytes,
                    "checksum_sha256": load.checksum_sha256,
                    "last_modified": load.last_modified,
                    "source_format": load.source_format,
                    "status": result.status,
                    "rows_in": result.rows_in,
                    "events_loaded": result.events_loaded,
                    "duplicates": result.duplicates,
                    "rejected": result.rejected,
                    "error": None,
                }
                for (load, _), result in zip(loads, results, strict=True)
            ],
        )
        ledger.mark_lake_pending(con, rewrite=touched)
    return results


def _store_samples(
    con: Connection, batches: Sequence[PrometheusBatch], uris: Sequence[str], now: object
) -> tuple[dict[int, int], set[date]]:
    """Store the batches' new samples (the first batch's copy of a sample wins) and update the
    usage they change; samples newly stored per batch index and the days touched."""
    with_samples = [(i, b) for i, b in enumerate(batches) if b.samples.height]
    if not with_samples:
        return {}, set()
    samples = pl.concat(
        [b.samples.with_columns(pl.lit(i, pl.Int32).alias("ordinal")) for i, b in with_samples]
    )
    series = pl.concat([b.series for _, b in with_samples]).unique("series_key", keep="last")
    # A number per series of the group: the samples' joins and windows run on it, several
    # times faster than on the 32-character key.
    series = series.with_row_index("sid")
    samples = samples.join(series.select("series_key", "sid"), on="series_key")
    lookback = max([COUNTER_GAP_MS, *series["max_gap_ms"].to_list()])
    con.register("incoming_series", series.to_arrow())
    con.execute(_META[0], {"now": now})
    con.execute(_RULES[0], {"counter_gap": COUNTER_GAP_MS})
    con.unregister("incoming_series")
    keys = ["series_key", "ts_ms"]
    if samples.n_unique(subset=keys) < samples.height:  # resent within the group or an object
        samples = samples.sort("ordinal", "value").unique(keys, keep="first")
    lo, hi = samples.select(
        pl.col("ts_ms").min().alias("lo"), pl.col("ts_ms").max().alias("hi")
    ).row(0)
    # The 128-bit units cross into DuckDB as two 64-bit halves: Arrow's decimal128 import
    # costs several times the rest of the frame.
    units = pl.col("value_e12").cast(pl.Int128)
    con.register(
        "incoming_samples",
        samples.select(
            "sid", "ts_ms", "ordinal",
            (units // 2**64).cast(pl.Int64).alias("units_hi"),
            (units % 2**64).cast(pl.UInt64).alias("units_lo"),
        ).to_arrow(),
    )  # fmt: skip
    con.execute(_STAGE[0])
    con.unregister("incoming_samples")
    if scalar(con, _ANY_LATE):
        con.execute(_STAGE[1], {"lo": lo, "hi": hi})
    per_object = con.execute(_STAGE[2]).fetchall()
    if not per_object:
        return {}, set()
    con.execute(_META[3], {"uris": list(uris), "now": now})
    (objects,) = con.execute(_META[4], {"uris": list(uris)}).fetchone() or (None,)
    con.execute(_STAGE[3], {"objects": objects})
    if any(late for _, _, late in per_object):
        con.execute(_TOUCHED[0], {"lookback": lookback})
        con.execute(_TOUCHED[1])
    else:
        con.execute(_TOUCHED[2])
    con.execute(_USAGE[0])
    for statement in _USAGE[1:]:
        con.execute(statement)
    con.execute(_REPLACE[0])
    con.execute(_REPLACE[1], {"now": now})
    touched = {r[0] for r in con.execute(_REPLACE[2]).fetchall()}
    for statement in _CLEANUP:
        con.execute(statement)
    return {int(i): int(n) for i, n, _ in per_object}, touched
