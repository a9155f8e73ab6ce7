"""Rating benchmark: `meterhouse rollup` of one month of N events with the example rate card,
beside a plain-SQL rating of the same events (bench/rating_baseline.sql), each side in its own
process on its own copy of the warehouse, measuring wall time and peak RSS (VmHWM).

    python -m bench.rating --events 3M            # make bench-rating RATING_ARGS="--events 3M"
    python -m bench.rating --events 50M --no-baseline

The events (bench/.cache/rating-<N>/source.duckdb, built once) are generated inside DuckDB from
the row number: 200 customers, the ten meters of examples/rate_card.yaml, datacenter / team /
project dimensions (and gpu_model on gpu_hours), quantities with 3 decimals, spread evenly over
April 2025. The card is loaded with `meterhouse rate-card load` before the copy is taken, so
each side times rating and rollup only.
"""

# SQL here is spliced only from integers and this module's constants (DuckDB cannot take a
# parameter for a range bound inside a generated CTE's LIMIT); never from data.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
CARD = ROOT / "examples" / "rate_card.yaml"
BASELINE_SQL = ROOT / "bench" / "rating_baseline.sql"
MEMORY_LIMIT = "1GB"  # what the warehouse writer uses (Settings.duckdb_memory_limit)
CHUNK = 5_000_000
METERS = ("gpu_hours", "cpu_core_hours", "memory_gb_hours", "storage_gb_months",
          "backup_gb_months", "network_egress_gb", "network_ingress_gb", "power_kwh",
          "object_requests", "public_ip_hours")  # fmt: skip


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _events_sql(first: int, count: int, total: int) -> str:
    meters = ", ".join(f"'{m}'" for m in METERS)
    return f"""
    INSERT INTO meter_events BY NAME
    WITH idx AS (SELECT range AS i, hash(range) AS h FROM range({first}, {first + count})),
    rows AS (
      SELECT i, h, [{meters}][1 + (h % 10)::INT] AS meter_name,
             'cust-' || lpad(((h // 10) % 200)::VARCHAR, 4, '0') AS customer_id,
             ['fra1', 'lon1', 'iad1', 'ams2'][1 + ((h // 2000) % 4)::INT] AS datacenter,
             ['ml-research', 'search', 'platform', 'ads'][1 + ((h // 8000) % 4)::INT] AS team,
             'proj-' || ((h // 32000) % 25)::VARCHAR AS project,
             ['H100-SXM-80GB', 'A100-SXM-80GB', 'L40S-48GB', 'A10-24GB'][1 + ((h // 800000) % 4)::INT] AS gpu
      FROM idx)
    SELECT 'ev-' || i AS event_id, customer_id, meter_name,
           ((h // 3200000) % 100000)::DECIMAL(38, 0) * 0.001::DECIMAL(38, 3) AS quantity,
           'unit' AS unit,
           TIMESTAMPTZ '2025-04-01 00:00:00+00' + to_microseconds((i::HUGEINT * 2592000000000 // {total})::BIGINT) AS event_time,
           (TIMESTAMPTZ '2025-04-01 00:00:00+00' + to_microseconds((i::HUGEINT * 2592000000000 // {total})::BIGINT))::DATE AS event_date,
           CASE WHEN meter_name = 'gpu_hours'
                THEN MAP {{'datacenter': datacenter, 'team': team, 'project': project, 'gpu_model': gpu}}
                ELSE MAP {{'datacenter': datacenter, 'team': team, 'project': project}} END AS dimensions,
           'amberflo_csv' AS source_format, 'bench://rating' AS source_uri, i + 1 AS source_row,
           TIMESTAMPTZ '2025-05-01 00:00:00+00' AS ingested_at, md5_number('ev-' || i) AS event_key
    FROM rows"""


def build_source(events: int) -> Path:
    """The warehouse with `events` events of April 2025 and the example card (built once)."""
    folder = CACHE / f"rating-{events}"
    source = folder / "source.duckdb"
    if source.exists():
        return source
    from etl.jobs.rollup import load_rate_card
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = Settings.from_env(folder / "build.duckdb")
    started = time.perf_counter()
    with Warehouse(settings.warehouse_path, settings.lake_path).writer() as con:
        for first in range(0, events, CHUNK):
            con.execute(_events_sql(first, min(CHUNK, events - first), events))
            con.execute("CHECKPOINT")
    load_rate_card(str(CARD), settings=settings)
    (folder / "build.duckdb").rename(source)
    shutil.rmtree(folder / "lake", ignore_errors=True)
    print(f"built {source} ({events:,} events) in {time.perf_counter() - started:.1f}s", flush=True)
    return source


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_meterhouse(work: Path) -> dict[str, Any]:
    """`meterhouse rollup` (etl.jobs.rollup.rollup): plan, rate, roll up, reconcile, publish."""
    from etl.jobs.rollup import rollup
    from etl.settings import Settings

    settings = Settings.from_env(work / "warehouse.duckdb")
    started = time.perf_counter()
    report = rollup(settings=settings)
    seconds = time.perf_counter() - started
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rated, total = con.execute("SELECT count(*), sum(rated_cost) FROM rated_events").fetchone()
    con.close()
    return {"seconds": seconds, "events": report["events"], "rated": report["rated"],
            "rated_rows": rated, "rated_cost": str(total)}  # fmt: skip


def run_baseline(work: Path) -> dict[str, Any]:
    """bench/rating_baseline.sql on the copy, as one DuckDB script."""
    import duckdb

    con = duckdb.connect(str(work / "warehouse.duckdb"))
    con.execute("SET memory_limit = ?", [MEMORY_LIMIT])
    con.execute("SET TimeZone = 'UTC'")
    script = BASELINE_SQL.read_text()
    started = time.perf_counter()
    con.execute(script)
    seconds = time.perf_counter() - started
    rated, total = con.execute("SELECT count(*), sum(rated_cost) FROM baseline_rated").fetchone()
    con.close()
    return {"seconds": seconds, "rated_rows": rated, "rated_cost": str(total)}


def child(side: str, work: Path) -> int:
    out = run_meterhouse(work) if side == "meterhouse" else run_baseline(work)
    out["peak_rss_mib"] = _peak_rss_mib()
    sys.stdout.write("BENCH_RESULT " + json.dumps(out) + "\n")
    return 0


def _load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def run_side(side: str, source: Path, events: int) -> dict[str, Any]:
    work = CACHE / f"rating-{events}" / f"work-{side}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(source, work / "warehouse.duckdb")
    load_before = _load()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.rating", "--child", side, "--work", str(work)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ}, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-4000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
    result["load"] = f"{load_before} -> {_load()}"
    shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rating")
    parser.add_argument("--events", default="3M", help="events in the month (3M, 50M, 200k)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", choices=["meterhouse", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.work)
    events = parse_size(args.events)
    source = build_source(events)
    sides = ["meterhouse"] if args.no_baseline else ["baseline", "meterhouse"]
    results = {side: run_side(side, source, events) for side in sides}
    print(
        "\n| events | side | wall s | peak RSS MiB | ratio | load (1/5/15 min, before -> after) |"
    )
    print("|---:|---|---:|---:|---:|---|")
    base = results.get("baseline")
    for side, r in results.items():
        ratio = f"{r['seconds'] / base['seconds']:.2f}x" if base and side != "baseline" else ""
        name = "baseline (plain SQL)" if side == "baseline" else "meterhouse rollup"
        print(
            f"| {events:,} | {name} | {r['seconds']:.1f} | {r['peak_rss_mib']:,.0f} | {ratio} | {r['load']} |"
        )
    for side, r in results.items():
        print(f"{side}: rated rows {r['rated_rows']:,}, rated cost {r['rated_cost']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
