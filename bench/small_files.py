"""Ten thousand small files through `usage_ingest` under a real scheduler.

    python -m bench.small_files [--files 10000] [--events-per-file 100] [--format ndjson|csv]

The claim under test: Airflow tasks scale with batches, not with files, so 10,000 exports of
100 events each load in one `usage_ingest` run in under 5 minutes on the embedded stack.

What it does:
1. starts its own stack with scripts/stack.py's `up()` (scheduler with the LocalExecutor and
   parallelism 4, API server, DAG processor, triggerer, local S3) on free ports, with its Airflow
   home in bench/.cache/small_files/stack and a fresh warehouse
   bench/.cache/small_files/warehouse.duckdb, without the sample month (`seed=False`);
2. writes N deterministic Amberflo exports of M events each (seeded, distinct `uniqueId`s, all
   dated inside one day) to `s3://usage/ingest/dt=<day>/small-NNNNN.<ndjson|csv>`, uploading in
   parallel threads, and waits until the nightly run the scheduler creates on start-up is done
   (it does not cover that day); none of this is measured;
3. triggers `usage_ingest` over the REST API v2 for that day (`start_date` = `end_date`) and
   measures the wall time from the trigger to the run's end;
4. reports the run's task instances (how many `ingest_batch` were mapped and how long they took)
   and checks the warehouse, opened read-only: `meter_events` holds N*M events and the ingest
   ledger N files with status `loaded`.

The stack is always stopped at the end (by process id). Exit status 1 when the run fails, times
out or the warehouse does not hold exactly what was written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import signal
import statistics
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".cache" / "small_files"
sys.path.insert(0, str(ROOT / "scripts"))

from local_s3 import free_port, s3_env  # noqa: E402
from stack import (  # noqa: E402
    BUCKET,
    LANDING,
    ApiClient,
    StackConfig,
    _read_pids,
    _session_members,
    down,
    up,
)

DAG = "usage_ingest"
TARGET_S = 300.0
DEFAULT_DAY = date(2026, 10, 5)
RESERVED_PORTS = {8080, 5055}  # `make up`'s defaults: never taken here
TERMINAL = ("success", "failed")

_CUSTOMERS = tuple(f"cust-{i:04d}" for i in range(1, 201))
_METERS = ("cpu_core_hours", "memory_gb_hours", "gpu_hours", "network_egress_gb", "power_kwh")
_DATACENTERS = ("fra1", "ams2", "iad1", "sjc1")
_TEAMS = ("search", "payments", "data-platform", "video", "infra")
_MS_PER_DAY = 86_400_000


# -- the exports ------------------------------------------------------------------------------


def export_key(index: int, fmt: str, day: date) -> str:
    return f"{LANDING.removeprefix(f's3://{BUCKET}/')}dt={day:%Y-%m-%d}/small-{index:05d}.{fmt}"


def export_records(index: int, events: int, day: date, seed: int) -> list[dict[str, Any]]:
    """The records of file `index`: the same for the same arguments, ids distinct across files.

    The low bits of every `uniqueId` are the file and event number, so no two events of one
    benchmark share an id (a duplicate would be dropped and the event count would not match).
    """
    rng = random.Random(f"{seed}:{index}")
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
    records = []
    for event in range(events):
        low = (index << 24) | event  # < 2**62: untouched by the UUID version/variant bits
        unique_id = uuid.UUID(int=(rng.getrandbits(64) << 64) | low, version=4)
        records.append(
            {
                "customerId": rng.choice(_CUSTOMERS),
                "meterApiName": rng.choice(_METERS),
                "meterValue": round(rng.uniform(0.001, 500.0), 3),
                "meterTimeInMillis": day_ms + rng.randrange(_MS_PER_DAY),
                "uniqueId": str(unique_id),
                "dimensions": {"datacenter": rng.choice(_DATACENTERS), "team": rng.choice(_TEAMS)},
            }
        )
    return records


def encode(records: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "ndjson":
        return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "customerId",
            "meterApiName",
            "meterValue",
            "meterTimeInMillis",
            "uniqueId",
            "datacenter",
            "team",
        ]
    )
    for r in records:
        writer.writerow(
            [
                r["customerId"],
                r["meterApiName"],
                r["meterValue"],
                r["meterTimeInMillis"],
                r["uniqueId"],
                r["dimensions"]["datacenter"],
                r["dimensions"]["team"],
            ]
        )
    return out.getvalue().encode()


def upload_exports(
    cfg: StackConfig, files: int, events: int, fmt: str, day: date, seed: int, threads: int
) -> int:
    """Create the bucket and write every export, `threads` at a time; returns bytes written."""
    import boto3
    from botocore.config import Config

    env = s3_env(cfg.s3_port)
    client = boto3.client(
        "s3",
        endpoint_url=cfg.s3_endpoint,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
        config=Config(max_pool_connections=threads, retries={"max_attempts": 5}),
    )
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)

    def put(index: int) -> int:
        body = encode(export_records(index, events, day, seed), fmt)
        client.put_object(Bucket=BUCKET, Key=export_key(index, fmt, day), Body=body)
        return len(body)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        written = sum(pool.map(put, range(1, files + 1)))
    listed = sum(
        page.get("KeyCount", 0)
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=export_key(0, fmt, day).rsplit("/", 1)[0] + "/"
        )
    )
    if listed != files:
        raise SystemExit(f"uploaded {files} exports but the bucket lists {listed}")
    return written


# -- the run ----------------------------------------------------------------------------------


def _run_path(run_id: str) -> str:
    return f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"


def active_runs(api: ApiClient) -> list[dict[str, Any]]:
    runs = api.get("/api/v2/dags/~/dagRuns", params={"state": ["queued", "running"]})
    return list(runs["dag_runs"])


def wait_idle(api: ApiClient, timeout_s: float) -> None:
    """Until no DAG run is queued or running (the start-up nightly run, the rollup after ours)."""
    deadline = time.monotonic() + timeout_s
    while (busy := active_runs(api)) and time.monotonic() < deadline:
        time.sleep(2)
    if busy:
        names = [f"{r['dag_id']}/{r['dag_run_id']} ({r['state']})" for r in busy]
        raise SystemExit(f"runs still active after {timeout_s:.0f}s: {names}")


def task_instances(api: ApiClient, run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = api.get(
            f"{_run_path(run_id)}/taskInstances", params={"limit": 100, "offset": len(found)}
        )
        found.extend(page["task_instances"])
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _seconds(ti: dict[str, Any]) -> float | None:
    if ti.get("duration") is not None:
        return float(ti["duration"])
    start, end = _when(ti.get("start_date")), _when(ti.get("end_date"))
    return (end - start).total_seconds() if start and end else None


def failed_task_logs(cfg: StackConfig, run_id: str, tis: list[dict[str, Any]]) -> str:
    """The tail of each failed task's last attempt log, from the stack's local log folder."""
    logs = cfg.home / "airflow" / "logs" / f"dag_id={DAG}" / f"run_id={run_id}"
    parts = []
    for ti in tis:
        if ti["state"] not in ("failed", "upstream_failed", "up_for_retry"):
            continue
        folder = logs / f"task_id={ti['task_id']}"
        if ti["map_index"] >= 0:
            folder /= f"map_index={ti['map_index']}"
        attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: p.stat().st_mtime)
        if not attempts:
            parts.append(f"--- {ti['task_id']}[{ti['map_index']}] {ti['state']}: no log file")
            continue
        tail = attempts[-1].read_text(errors="replace").splitlines()[-40:]
        parts.append(f"--- {attempts[-1]}\n" + "\n".join(line[:400] for line in tail))
    return "\n".join(parts)


# -- the warehouse ----------------------------------------------------------------------------


def check_warehouse(path: Path, files: int, events: int) -> tuple[list[str], dict[str, int]]:
    """Problems found (empty when right) and the ledger's totals; opened read-only."""
    import duckdb

    deadline = time.monotonic() + 120
    while True:
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                stored = con.execute("SELECT count(*) FROM meter_events").fetchone()
                ledger = con.execute(
                    """SELECT count(*), count(*) FILTER (WHERE status = 'loaded'),
                              coalesce(sum(rows_in), 0), coalesce(sum(events_loaded), 0),
                              coalesce(sum(duplicates), 0), coalesce(sum(rejected), 0)
                       FROM ingest_ledger"""
                ).fetchone()
                statuses = con.execute(
                    "SELECT status, count(*) FROM ingest_ledger GROUP BY 1 ORDER BY 1"
                ).fetchall()
            break
        except duckdb.IOException:  # a writer (the rollup) still holds the file
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    assert stored is not None and ledger is not None
    totals = dict(
        zip(
            ("ledger_rows", "loaded", "rows_in", "events_loaded", "duplicates", "rejected"),
            map(int, ledger),
            strict=True,
        )
    )
    problems = []
    if stored[0] != files * events:
        problems.append(f"meter_events holds {stored[0]:,} events, expected {files * events:,}")
    if totals["ledger_rows"] != files or totals["loaded"] != files:
        problems.append(
            f"ingest_ledger holds {totals['ledger_rows']} files ({dict(statuses)}), "
            f"expected {files} with status 'loaded'"
        )
    return problems, {"meter_events": int(stored[0]), **totals}


# -- main -------------------------------------------------------------------------------------


def _ports() -> tuple[int, int]:
    while True:
        api_port, s3_port = free_port(), free_port()
        if api_port != s3_port and not {api_port, s3_port} & RESERVED_PORTS:
            return api_port, s3_port


def _fresh_work_dir(cfg: StackConfig) -> None:
    pids = _read_pids(cfg.home) if cfg.home.exists() else {}
    if pids and _session_members(set(pids.values())):
        raise SystemExit(
            f"a benchmark stack is still running from {cfg.home}; stop it with "
            f"METERHOUSE_STACK_HOME={cfg.home} .venv/bin/python scripts/stack.py down"
        )
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)


def _env_pairs(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("METERHOUSE_"):
            raise SystemExit(
                f"--env takes METERHOUSE_NAME=value (a documented setting), not {item!r}"
            )
        pairs.append((name, value))
    return tuple(pairs)


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def trigger_and_wait(api: ApiClient, day: date, timeout_s: float) -> tuple[dict[str, Any], float]:
    """The measured part: trigger a run for `day`, poll until it ends; (run, wall seconds)."""
    conf = {"start_date": day.isoformat(), "end_date": day.isoformat()}
    t0 = time.perf_counter()
    run = api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})
    run_id = str(run["dag_run_id"])
    last_print = t0
    while True:
        run = api.get(_run_path(run_id))
        now = time.perf_counter()
        if run["state"] in TERMINAL or now - t0 > timeout_s:
            return dict(run), now - t0
        if now - last_print >= 30:
            progress = Counter(ti["state"] for ti in task_instances(api, run_id))
            print(f"  {now - t0:5.0f} s  {run['state']}  {dict(progress)}", flush=True)
            last_print = now
        time.sleep(1)


def print_run(run: dict[str, Any], tis: list[dict[str, Any]], wall_s: float) -> float | None:
    """The run's dates and its task instances per task; returns the run's own seconds."""
    start, end = _when(run.get("start_date")), _when(run.get("end_date"))
    run_s = (end - start).total_seconds() if start and end else None
    state = run["state"] if run["state"] in TERMINAL else f"{run['state']} (timed out)"
    print(f"\nrun {run['dag_run_id']}: {state}")
    print(f"  queued {run.get('queued_at')}, started {start}, ended {end}")
    print(
        f"  wall from trigger to end: {wall_s:.1f} s; run start -> end (API): "
        + (f"{run_s:.1f} s" if run_s is not None else "-")
    )
    mapped = sum(1 for ti in tis if ti["task_id"] == "ingest_batch" and ti["map_index"] >= 0)
    print(f"  task instances: {len(tis)} ({mapped} mapped ingest_batch)")
    for task_id in dict.fromkeys(ti["task_id"] for ti in tis):
        group = [ti for ti in tis if ti["task_id"] == task_id]
        secs = [s for ti in group if (s := _seconds(ti)) is not None]
        tries = max(int(ti.get("try_number") or 0) for ti in group)
        states = dict(Counter(ti["state"] for ti in group))
        print(
            f"    {task_id:18} x{len(group):<4} {states}  "
            f"min / median / max {_summary(secs)} s, highest try {tries}"
        )
    return run_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--events-per-file", type=int, default=100)
    parser.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    parser.add_argument("--day", type=date.fromisoformat, default=DEFAULT_DAY)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--upload-threads", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="METERHOUSE_NAME=value",
        help="a documented meterhouse setting for the stack (repeatable); default: none",
    )
    args = parser.parse_args(argv)
    if args.files < 1 or args.events_per_file < 1:
        parser.error("--files and --events-per-file must be positive")
    # `down()` must run on SIGTERM too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    api_port, s3_port = _ports()
    extra_env = _env_pairs(args.env)
    cfg = StackConfig(
        home=WORK / "stack",
        api_port=api_port,
        s3_port=s3_port,
        warehouse=WORK / "warehouse.duckdb",
        seed=False,
        extra_env=extra_env,
    )
    files, per_file, fmt = args.files, args.events_per_file, args.format
    events = files * per_file
    _fresh_work_dir(cfg)
    print(
        f"small files: {files:,} {fmt} exports x {per_file} events = {events:,} events, "
        f"dated {args.day}; stack in {cfg.home}",
        flush=True,
    )
    print(
        "meterhouse settings passed to the stack: "
        + (", ".join(f"{k}={v}" for k, v in extra_env) or "none (defaults)"),
        flush=True,
    )

    try:
        started = time.perf_counter()
        api = up(cfg, timeout_s=600)
        stack_s = time.perf_counter() - started

        started = time.perf_counter()
        written = upload_exports(
            cfg, files, per_file, fmt, args.day, args.seed, args.upload_threads
        )
        upload_s = time.perf_counter() - started
        print(
            f"setup: stack up {stack_s:.0f} s; wrote {files:,} objects "
            f"({written / 2**20:.1f} MiB) in {upload_s:.1f} s",
            flush=True,
        )
        # The scheduler creates the nightly run as soon as the stack is up; with
        # max_active_runs=1 ours would queue behind it, so it finishes first (it does not
        # cover the benchmark's day and loads nothing).
        started = time.perf_counter()
        wait_idle(api, timeout_s=900)
        before = api.get(f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 100})["dag_runs"]
        earlier = ", ".join(f"{r['run_type']}={r['state']}" for r in before) or "none"
        print(
            f"setup: waited {time.perf_counter() - started:.0f} s for earlier runs ({earlier})",
            flush=True,
        )

        run, wall_s = trigger_and_wait(api, args.day, args.timeout)

        tis = task_instances(api, str(run["dag_run_id"]))
        run_s = print_run(run, tis, wall_s)
        ok = run["state"] == "success"
        if not ok:
            print("\nthe run did not succeed; task states:")
            print(json.dumps({f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis}))
            print("failed task logs:\n" + failed_task_logs(cfg, str(run["dag_run_id"]), tis))
        else:
            wait_idle(api, timeout_s=600)  # the rollup that the run's Asset update starts
            problems, totals = check_warehouse(cfg.warehouse, files, per_file)
            print(
                "  warehouse: "
                + ", ".join(f"{k}={v:,}" for k, v in totals.items())
                + ("" if problems else "  (as written)")
            )
            for problem in problems:
                print(f"  MISMATCH: {problem}")
            ok = not problems

        mapped = [ti for ti in tis if ti["task_id"] == "ingest_batch" and ti["map_index"] >= 0]
        batch_s = [s for ti in mapped if (s := _seconds(ti)) is not None]
        print(
            "\n| files | events/file | events | format | wall s | run s (API) | task instances "
            "| mapped ingest_batch | ingest_batch min / median / max s | ms per file (wall) "
            "| ms per file (ingest_batch) |"
        )
        print("|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|")
        print(
            f"| {files:,} | {per_file} | {events:,} | {fmt} | {wall_s:.1f} | "
            + (f"{run_s:.1f}" if run_s is not None else "-")
            + f" | {len(tis)} | {len(mapped)} | {_summary(batch_s)} | "
            f"{wall_s * 1000 / files:.1f} | {sum(batch_s) * 1000 / files:.1f} |"
        )
        met = ok and wall_s < TARGET_S
        print(f"target: < {TARGET_S:.0f} s — {'met' if met else 'NOT met'}")
        return 0 if ok else 1
    finally:
        stopped = down(cfg, quiet=True)
        print(f"stack stopped ({stopped} processes)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
