"""One side of one benchmark run, in its own process so its peak RSS is its own.

    python -m bench.child SIDE --src DIR --fmt FMT --work DIR

SIDE is `meterhouse` (etl.jobs.ingest.ingest into the warehouse in --work, then the daily rollup)
or `baseline` (bench.baseline). Prints one JSON line: counts, quantity total, seconds (the job
only: imports and the final check of the result excluded), peak RSS of this process, and per-phase seconds.

Phases of the meterhouse side are reported by the ingest job itself to the observer passed in
(etl.jobs.observer): nothing is patched.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from etl.jobs.observer import Phase


class PhaseTimes:
    """Adds up the seconds of each phase the job reports (from any thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def on_phase(self, phase: Phase, seconds: float, source_format: str | None) -> None:
        # FOCUS parsing has its own line, as it always had.
        name = (
            "parse_focus"
            if phase is Phase.PARSE and (source_format or "").startswith("focus")
            else phase.value
        )
        self.add(name, seconds)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def run_meterhouse(
    src: Path, work: Path, phases: PhaseTimes, *, rollup: bool = True
) -> dict[str, Any]:
    from etl.jobs.ingest import ingest
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    # The documented METERHOUSE_* variables apply (chunk size, memory limit, ...).
    settings = Settings.from_env(work / "warehouse.duckdb")
    started = time.perf_counter()
    report = ingest([str(src)], settings, observer=phases)
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
        phases.add("rollup", time.perf_counter() - t)
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
        phases = PhaseTimes()
        out = run_meterhouse(args.src, args.work, phases, rollup=not args.no_rollup)
        out["phases"] = dict(phases.seconds)
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
