"""Prometheus remote write: decode + land throughput, and samples -> usage beside plain SQL.

    python -m bench.prometheus --samples 2M [--requests 200] [--series 1000]

1. decode + land: remote write 1.0 and 2.0 bodies of 2,000 series x 1 sample (Prometheus's
   default max_samples_per_send), 7 labels each, through the gateway's decoder (snappy,
   protobuf, NDJSON lines, gzip member) in one thread, label cache warm as under a scraping
   Prometheus; samples/s. (Over HTTP: `python -m bench.gateway --remote-write --records 2000`.)
2. usage: N samples (counters and gauges, 1 s apart) landed as NDJSON.gz objects of 100,000
   samples, then
   (a) meterhouse: parse + load per group of objects (up to --group-samples samples per
       transaction, as usage_ingest does) into a fresh warehouse: samples stored and
       deduplicated, the touched series x hours updated, their events replaced, ledger rows;
   (b) the baseline (bench/prometheus_baseline.sql): the same job as plain DuckDB SQL over
       the same files, written the fastest way with the same exact types (values from their
       landed text into whole units of 1e-12, integer arithmetic), storing what the next run
       needs (the events and every series' last sample) in a DuckDB file;
   (c) with --double-baseline, for reference: the same sums in DOUBLE, nothing stored.
   The two exact sides must produce the same events (count, total and a digest of every
   event id, customer, meter and quantity); the run fails otherwise. Each side runs in its
   own process; peak RSS is that process's, CPU seconds are counted from the side's start.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

T0 = 1_764_547_200_000
MAPPING = """
meters:
  - {metric: requests_total, meter: requests, unit: requests, kind: counter}
  - {metric: memory_bytes, meter: memory, unit: GiB-hours, kind: gauge, divide_by: 1073741824, max_gap: 5m}
"""

BASELINE_SQL = Path(__file__).with_name("prometheus_baseline.sql")
DOUBLE_SQL = """
WITH s AS (
  SELECT md5(to_json(labels)) AS series_key, labels['__name__'] AS metric,
         CAST(p[1] AS BIGINT) AS ts_ms, p[2] AS value
  FROM read_json($files, format = 'newline_delimited',
                 columns = {'labels': 'MAP(VARCHAR, VARCHAR)', 'samples': 'DOUBLE[][]'}),
       UNNEST(samples) AS u(p)),
d AS (SELECT series_key, any_value(metric) AS metric, ts_ms, min(value) AS value
      FROM s GROUP BY series_key, ts_ms),
o AS (SELECT *, lag(ts_ms) OVER w AS prev_ts, lag(value) OVER w AS prev_v
      FROM d WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms))
SELECT count(*), sum(CASE WHEN metric = 'requests_total'
                          THEN CASE WHEN value >= prev_v THEN value - prev_v ELSE value END
                          ELSE prev_v * (ts_ms - prev_ts) / 1073741824 / 3600000 END)
FROM o WHERE prev_ts IS NOT NULL AND (metric = 'requests_total' OR ts_ms - prev_ts <= 300000)
"""
"""For reference only: the same sums in DOUBLE, nothing stored, nothing split at hours."""
DIGEST = (
    "SELECT count(*), CAST(sum(quantity) AS DECIMAL(38, 12)), bit_xor(hash(concat_ws('|',"
    " event_id, customer_id, meter_name, CAST(quantity AS DECIMAL(38, 12))))) FROM {}"
)
"""Events, their total and a digest of every (event id, customer, meter, quantity): equal on
both sides when every event's usage is equal to the last decimal."""


def _count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _labels(i: int) -> dict[str, str]:
    return {
        "__name__": "requests_total" if i % 2 == 0 else "memory_bytes",
        "container": "app", "instance": f"10.0.{i % 250}.1:9100", "job": "kubelet",
        "namespace": f"team-{i % 20}", "node": f"node-{i % 7}", "pod": f"pod-{i}",
    }  # fmt: skip


def remote_write_series(count: int, ts: int) -> list[Any]:
    """`count` series x 1 sample at `ts` (tests.prometheus_wire.Series)."""
    from tests.prometheus_wire import Series

    return [Series(_labels(i), [(ts, float(ts // 1000 + i))]) for i in range(count)]


def bench_decode(requests: int) -> None:
    from etl.gateway.remote_write import LabelCache, decode
    from tests.prometheus_wire import v1_body, v2_body

    for version, build in ((1, v1_body), (2, v2_body)):
        bodies = [build(remote_write_series(2000, T0 + r * 1000)) for r in range(5)]
        cache = LabelCache()
        decode(bodies[0], version, 64 << 20, cache)
        started, cpu = time.perf_counter(), time.process_time()
        for r in range(requests):
            decode(bodies[r % 5], version, 64 << 20, cache)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        # CPU time too: on a shared machine the wall clock counts other processes' turns.
        print(f"decode+land v{version}: {requests * 2000 / seconds:,.0f} samples/s wall, "
              f"{requests * 2000 / cpu:,.0f} samples per CPU-second "
              f"({cpu / requests * 1000:.2f} ms CPU per 2,000-sample request)", flush=True)  # fmt: skip


def make_objects(folder: Path, samples: int, series: int) -> list[Path]:
    steps = samples // series
    per_object = max(1, 100_000 // series)
    heads = [json.dumps({"labels": _labels(i)}, separators=(",", ":"))[:-1] for i in range(series)]
    paths = []
    for n, start in enumerate(range(0, steps, per_object)):
        lines = []
        for i, head in enumerate(heads):
            pts = ",".join(
                f"[{T0 + t * 1000},{float(t * 3 + i) if i % 2 == 0 else float((1 + i % 4) << 30)!r}]"
                for t in range(start, min(steps, start + per_object))
            )
            lines.append(f'{head},"samples":[{pts}]}}')
        path = folder / f"{n:05d}.ndjson.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
        paths.append(path)
    return paths


def run_meterhouse(folder: Path, group_samples: int) -> None:
    import hashlib

    from etl.formats.base import ParseOptions, PrometheusBatch
    from etl.formats.registry import parse_source
    from etl.settings import Settings
    from etl.sources.streams import read_ahead
    from etl.warehouse import Warehouse
    from etl.warehouse.records import SourceLoad

    mapping = folder / "mapping.yaml"
    mapping.write_text(MAPPING)
    wh = Warehouse(folder / "wh" / "warehouse.duckdb", folder / "wh" / "lake")
    started, cpu = time.perf_counter(), _cpu()

    def parsed_objects() -> Iterator[tuple[SourceLoad, PrometheusBatch]]:
        for path in sorted(folder.glob("*.ndjson.gz")):
            data = gzip.decompress(path.read_bytes())
            parsed = parse_source(data, str(path), datetime.now(tz=UTC),
                                  ParseOptions(prometheus_mapping=mapping))  # fmt: skip
            assert parsed.prometheus is not None
            load = SourceLoad(str(path), path.name, "e", len(data), hashlib.sha256(data).hexdigest(),
                              datetime.now(tz=UTC), parsed.source_format, parsed.rows_in,
                              parsed.events, parsed.rejects)  # fmt: skip
            yield load, parsed.prometheus

    group: list[tuple[SourceLoad, PrometheusBatch]] = []
    with wh.writer():
        # As usage_ingest loads them: in groups of up to group_samples samples, one
        # transaction each, the next group's objects read and parsed while the warehouse
        # loads this one (read_ahead).
        for load, batch in read_ahead(
            parsed_objects(),
            weight=lambda item: item[1].samples.height,
            budget=group_samples,
            depth=Settings.group_files,
        ):
            group.append((load, batch))
            if sum(b.samples.height for _, b in group) >= group_samples:
                wh.load_prometheus_group(group)
                group = []
        if group:
            wh.load_prometheus_group(group)
    seconds = time.perf_counter() - started
    _, rows = wh.query(DIGEST.format("meter_events"))
    _report("meterhouse", seconds, rows[0], cpu)


def run_baseline(folder: Path, exact: bool) -> None:
    import duckdb

    # A file, as meterhouse's warehouse: the events and last samples are stored, committed.
    db = folder / "baseline.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db), config={"memory_limit": "1GB"})
    files = [str(p) for p in sorted(folder.glob("*.ndjson.gz"))]
    started, cpu = time.perf_counter(), _cpu()
    if exact:
        for statement in BASELINE_SQL.read_text().split(";"):
            if statement.strip():
                con.execute(statement, [files] if "read_json(?" in statement else None)
        con.execute("CHECKPOINT")
        rows = con.execute(DIGEST.format("events")).fetchall()  # noqa: S608 - fixed SQL
    else:
        rows = con.execute(DOUBLE_SQL, {"files": files}).fetchall()
    name = "plain SQL exact" if exact else "plain SQL double"
    _report(name, time.perf_counter() - started, rows[0], cpu)
    con.close()
    db.unlink(missing_ok=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _report(name: str, seconds: float, result: object, cpu_started: float) -> None:
    # CPU-seconds of every thread of the side's process from the side's start (imports
    # excluded): comparable on a shared machine, where wall time counts others' turns.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"side": name, "seconds": round(seconds, 2),
                      "cpu_seconds": round(_cpu() - cpu_started, 2),
                      "peak_rss_mib": round(peak / 1024), "result": str(result)}),
          flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="2M")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--side", choices=["meterhouse", "baseline", "baseline-exact"])
    parser.add_argument(
        "--double-baseline",
        action="store_true",
        help="also the same sums in DOUBLE with nothing stored (for reference)",
    )
    parser.add_argument("--no-decode", action="store_true", help="skip decode + land")
    parser.add_argument("--folder")
    parser.add_argument(
        "--group-samples",
        type=int,
        default=500_000,
        help="samples per transaction (usage_ingest: METERHOUSE_PROMETHEUS_GROUP_SAMPLES)",
    )
    args = parser.parse_args()
    if args.side:
        if args.side == "meterhouse":
            run_meterhouse(Path(args.folder), args.group_samples)
        else:
            run_baseline(Path(args.folder), exact=args.side == "baseline-exact")
        return 0
    if not args.no_decode:
        bench_decode(args.requests)
    samples = _count(args.samples)
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        paths = make_objects(folder, samples, args.series)
        print(f"landed {samples:,} samples in {len(paths)} objects "
              f"({time.perf_counter() - started:.1f} s to generate)", flush=True)  # fmt: skip
        results = {}
        sides = ["baseline-exact", "meterhouse"] + (["baseline"] if args.double_baseline else [])
        for side in sides:
            out = subprocess.run(
                [sys.executable, "-m", "bench.prometheus", "--side", side, "--folder", tmp,
                 "--group-samples", str(args.group_samples)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            line = out.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            results[side] = json.loads(line)
        mine, plain = results["meterhouse"], results["baseline-exact"]
        print(f"meterhouse / plain SQL (exact, same job): {mine['seconds'] / plain['seconds']:.2f}x "
              f"wall, {mine['cpu_seconds'] / plain['cpu_seconds']:.2f}x CPU; same events: "
              f"{mine['result'] == plain['result']}", flush=True)  # fmt: skip
        if mine["result"] != plain["result"]:
            print("the two sides' events differ", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
