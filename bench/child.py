"""One side of one benchmark run, in its own process so its peak RSS is its own.

    python -m bench.child SIDE --src DIR --fmt FMT --work DIR

SIDE is `meterhouse` (etl.pipeline.ingest into the warehouse in --work, then the daily rollup)
or `baseline` (bench.baseline). Prints one JSON line: counts, quantity total, seconds (the job
only: imports and the final check of the result excluded), peak RSS of this process, and per-phase seconds.

Phases of the meterhouse side are timed by wrapping the pipeline's module-level functions
(etl.pipeline looks them up at call time), so no etl code changes for the benchmark.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASES: dict[str, float] = defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name] += time.perf_counter() - t

    return wrapper


def _instrument() -> None:
    """Time each step of etl.pipeline's per-file work and the batch's publish."""
    import etl.formats.focus as focus
    import etl.formats.stream as stream
    import etl.pipeline as p
    import etl.storage as storage
    import etl.warehouse.load as load
    from etl.warehouse import Warehouse

    p.discover = _timed("discover", p.discover)
    storage.LocalStore.read_into = _timed("read", storage.LocalStore.read_into)  # type: ignore[method-assign]
    p.sha256_hex = _timed("checksum", p.sha256_hex)
    p._sha256_of = _timed("checksum", p._sha256_of)
    stream.DecompressedStream.read = _timed("decompress+sniff", stream.DecompressedStream.read)  # type: ignore[method-assign]
    p.sniff_format = _timed("decompress+sniff", p.sniff_format)
    for name in ("parse_amberflo_csv", "parse_amberflo_json", "parse_amberflo_ndjson"):
        setattr(p, name, _timed("parse", getattr(p, name)))
    p.normalize_meter_records = _timed("normalize", p.normalize_meter_records)
    focus.parse_focus = _timed("parse_focus", focus.parse_focus)
    p.validate_events = _timed("validate (pandera)", p.validate_events)
    # The warehouse steps of a load (whole files and chunks alike; commits are not timed).
    for name in ("remove_source", "insert_events", "insert_rejects", "finish_sources"):
        setattr(load, name, _timed("load (duckdb)", getattr(load, name)))
    Warehouse.publish_lake = _timed("publish_lake", Warehouse.publish_lake)  # type: ignore[method-assign]


def run_meterhouse(src: Path, work: Path, *, rollup: bool = True) -> dict[str, Any]:
    from etl.pipeline import ingest
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    # The documented METERHOUSE_* variables apply (chunk size, memory limit, ...).
    settings = Settings.from_env(work / "warehouse.duckdb")
    started = time.perf_counter()
    report = ingest([str(src)], settings)
    totals = report.totals()
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    if rollup:
        t = time.perf_counter()
        with wh.writer() as con:
            con.execute(
                """CREATE OR REPLACE TABLE daily_usage AS
                   SELECT event_date, customer_id, meter_name, unit, count(*) AS events,
                          sum(quantity) AS quantity
                   FROM meter_events GROUP BY ALL"""
            )
        PHASES["rollup"] += time.perf_counter() - t
    work_seconds = time.perf_counter() - started
    # The check of the result is not part of the job's time.
    _, rows = wh.query("SELECT count(*), sum(quantity) FROM meter_events")
    failed = [f"{f.uri}: {f.error}" for f in report.files if f.error]
    return {
        "files": totals["files"],
        "failed": failed,
        "rows_in": totals["rows_in"],
        "events_loaded": totals["events_loaded"],
        "duplicates": totals["duplicates"],
        "rejected": totals["rejected"],
        "stored_events": int(rows[0][0]),
        "quantity": str(rows[0][1]),
        "work_seconds": work_seconds,
    }


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("side", choices=["meterhouse", "baseline"])
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--fmt", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--no-rollup", action="store_true")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.side == "meterhouse":
        _instrument()
        out = run_meterhouse(args.src, args.work, rollup=not args.no_rollup)
        out["phases"] = dict(PHASES)
    else:
        import duckdb  # noqa: F401 - import outside the timed work, as for meterhouse

        from bench.baseline import run_baseline

        out = run_baseline(args.src, args.fmt, args.work)
    out["seconds"] = out.pop("work_seconds")
    # VmHWM: the peak resident set of this process's own memory. (ru_maxrss would also carry
    # the parent's peak across fork + exec, e.g. after the parent wrote the exports.)
    out["peak_rss_mib"] = _peak_rss_kib() / 1024
    sys.stdout.write("BENCH_RESULT " + json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
