"""DuckLake vs the DuckDB file: ingest throughput of 1, 2, 3 concurrent writers, side by side.

    make bench-ducklake DUCKLAKE_ARGS="--events 1M --files 100 --writers 1,2,3"

N Amberflo NDJSON files (ids overlapping across neighbouring files: ~2% retried copies) are
written once to bench/.cache/ducklake/. Then, each side on a fresh warehouse:
- `duckdb file`: one writer process loads every file into a DuckDB file (its only mode);
- `ducklake xW`: W writer processes (as W Airflow ingest_batch tasks) load a round-robin share
  of the files into one DuckLake: catalog in a throwaway Postgres on 127.0.0.1, data files in a
  local folder (`--s3`: in a moto S3 server over HTTP).
Every file is its own transaction on both sides (METERHOUSE_GROUP_FILES=1). Reported: wall
seconds, events/s, DuckLake snapshots (catalog commits) and their rate, and the writers' summed
phase times (`load` includes waiting for the commit lock), from the observer each child passes
to the ingest job. A last step measures the catalog's bare commit rate (one-row transactions).
Both sides must agree on events stored, duplicates and the quantity total.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".cache" / "ducklake"
BASE_MS = 1_790_000_000_000


def _count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def make_files(events: int, files: int) -> Path:
    """`files` NDJSON files of events/files records each; file f re-sends 2% of file f-1's ids."""
    folder = WORK / f"src-{events}-{files}"
    if (folder / ".done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    per = events // files
    overlap = max(1, per // 50)
    for f in range(files):
        start = f * (per - overlap)
        lines = []
        for n in range(start, start + per):
            lines.append(
                json.dumps(
                    {
                        "customerId": f"c{n % 50}",
                        "meterApiName": ("api_calls", "gpu_hours", "storage_gb")[n % 3],
                        "meterValue": f"{n % 97}.{n % 1000:03d}",
                        "meterTimeInMillis": BASE_MS + (n % 86_400) * 1000,
                        "uniqueId": f"ev-{n}",
                        "dimensions": {"team": f"t{n % 7}", "project": f"p{n % 11}"},
                    }
                )
            )
        (folder / f"batch-{f:05d}.ndjson").write_text("\n".join(lines))
    (folder / ".done").touch()
    return folder


def child(uris_file: str) -> None:
    """One writer: load the listed files (one transaction each), print its phase times."""
    from etl.jobs.ingest import ingest_batch
    from etl.jobs.observer import Phase
    from etl.settings import Settings
    from etl.sources.discovery import list_sources

    class Phases:
        def __init__(self) -> None:
            self.seconds: Counter[str] = Counter()

        def on_phase(self, phase: Phase, seconds: float, source_format: str | None) -> None:
            self.seconds[phase.value] += seconds

    class LockTimes(logging.Handler):
        """Sums etl.warehouse.ducklake's `step=commit_lock waited_s= held_s=` lines."""

        def __init__(self, into: dict[str, float]) -> None:
            super().__init__(logging.DEBUG)
            self.into = into

        def emit(self, record: logging.LogRecord) -> None:
            if record.msg.startswith("step=commit_lock") and isinstance(record.args, tuple):
                waited, held = record.args[:2]
                self.into["lock wait"] += float(str(waited))
                self.into["lock held"] += float(str(held))
                self.into["lock count"] += 1

    wanted = set(Path(uris_file).read_text().split())
    folder = os.path.dirname(next(iter(wanted)))
    objects = sorted((o for o in list_sources([folder]) if o.uri in wanted), key=lambda o: o.uri)
    phases = Phases()
    locks = {"lock wait": 0.0, "lock held": 0.0, "lock count": 0.0}
    lock_log = logging.getLogger("etl.warehouse.ducklake")
    lock_log.setLevel(logging.DEBUG)
    lock_log.addHandler(LockTimes(locks))
    profile = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    report = ingest_batch(objects, Settings.from_env(), observer=phases)
    if profiler is not None and profile:
        profiler.disable()
        with open(profile, "w") as out:
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"etl/|duckdb|polars", 60)
    print(json.dumps({"totals": report.totals(), "phases": dict(phases.seconds), "locks": locks}))


def _run_writers(
    files: list[Path], writers: int, env: dict[str, str], tag: str, profile: bool = False
) -> tuple[float, list[dict[str, Any]]]:
    procs = []
    for w in range(writers):
        listing = WORK / f"{tag}-w{w}.txt"
        listing.write_text("\n".join(str(p) for p in files[w::writers]))
        child_env = dict(env)
        if profile:
            child_env["BENCH_PROFILE"] = str(WORK / f"profile-{tag}-w{w}.txt")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.ducklake", "--child", str(listing)],
                cwd=ROOT,
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    started = time.perf_counter()
    outs = [p.communicate() for p in procs]
    seconds = time.perf_counter() - started
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"{tag}: a writer failed:\n{err[-3000:]}")
    return seconds, [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


def check() -> None:
    """Print (events stored, distinct ids, duplicates, quantity total) of the environment's
    warehouse."""
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    s = Settings.from_env()
    w = Warehouse(s.warehouse_path, s.lake_path, ducklake=s.ducklake)
    e = w.query(
        "SELECT count(*), count(DISTINCT event_id), sum(quantity)::VARCHAR FROM meter_events"
    )[1][0]
    d = w.query("SELECT count(*) FROM duplicate_events")[1][0][0]
    print(json.dumps([e[0], e[1], d, e[2]]))


def _check(env: dict[str, str]) -> tuple[Any, ...]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ducklake", "--check"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def _line(
    name: str,
    events: int,
    seconds: float,
    commits: int | None,
    results: list[dict[str, Any]],
    files: str = "",
) -> None:
    phases: Counter[str] = Counter()
    locks: Counter[str] = Counter()
    for r in results:
        phases.update(r["phases"])
        locks.update(r.get("locks", {}))
    held = locks["lock count"] > 0
    top = ", ".join(f"{k} {v:.1f}s" for k, v in phases.most_common(4))
    rate = (
        f"{commits:>6} {commits / seconds:>8.1f}/s"
        if commits is not None
        else f"{'-':>6} {'-':>10}"
    )
    lock = (
        f"; commit lock: {int(locks['lock count'])} holds, held {locks['lock held']:.1f}s, "
        f"waited {locks['lock wait']:.1f}s"
        if held
        else ""
    )
    print(
        f"{name:<14} {seconds:>8.1f} {events / seconds:>12,.0f} {rate}   {top}{lock}{files}",
        flush=True,
    )


def _data_files(catalog: str) -> str:
    """The DuckLake's live data files: how many, how large (the duplicate lookup reads those
    of meter_events in its date window)."""
    import psycopg

    with psycopg.connect(catalog) as pg:
        row = pg.execute(
            """SELECT count(*), coalesce(sum(file_size_bytes), 0), count(*) FILTER (
                        WHERE table_id = (SELECT table_id FROM ducklake_table
                                          WHERE table_name = 'meter_events' AND end_snapshot IS NULL))
               FROM ducklake_data_file WHERE end_snapshot IS NULL"""
        ).fetchone()
    assert row is not None  # noqa: S101 - an aggregate returns a row
    return f"; data files: {row[0]} ({int(row[1]) / 1e6:.0f} MB), {row[2]} of meter_events"


def commit_rate(commits: int = 200) -> None:
    """Print the catalog's rate of one-row commits (small enough to be inlined in Postgres)."""
    from etl.settings import Settings
    from etl.warehouse.ducklake import connect_lake

    lake = Settings.from_env().ducklake
    assert lake is not None  # noqa: S101 - the parent sets the backend
    con = connect_lake(lake)
    con.execute("CREATE TABLE IF NOT EXISTS bench_commits (n BIGINT)")
    started = time.perf_counter()
    for i in range(commits):
        con.execute("INSERT INTO bench_commits VALUES (?)", [i])
    print(f"{commits / (time.perf_counter() - started):.0f}")


def _bare_commit_rate(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ducklake", "--commit-rate"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="300k")
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--writers", default="1,2,3")
    parser.add_argument("--s3", action="store_true", help="data files in a moto S3 server")
    parser.add_argument(
        "--chunk-mb",
        type=int,
        default=256,
        help="METERHOUSE_CHUNK_BYTES in MiB: files up to this size load whole (parsed outside "
        "the commit lock); larger ones stream in chunks (parsed inside it on a DuckLake)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"cProfile every writer; the top functions go to {WORK}/profile-<side>-w<k>.txt",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--commit-rate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.check:
        check()
        return
    if args.commit_rate:
        commit_rate()
        return

    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import PostgresServer

    events = _count(args.events)
    folder = make_files(events, args.files)
    files = sorted(folder.glob("*.ndjson"))
    total_rows = sum(1 for p in files for _ in p.open())
    base = {
        **os.environ,
        "METERHOUSE_GROUP_FILES": "1",
        "METERHOUSE_CHUNK_BYTES": str(args.chunk_mb * 1024**2),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("METERHOUSE_WAREHOUSE_BACKEND", "METERHOUSE_WAREHOUSE", "METERHOUSE_LAKE"):
        base.pop(name, None)
    print(
        f"{len(files)} files, {total_rows:,} events, one transaction per file, "
        f"METERHOUSE_CHUNK_BYTES {args.chunk_mb} MiB; load avg "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    print(
        f"{'side':<14} {'wall s':>8} {'events/s':>12} {'snaps':>6} {'commits':>10}   writers' phase sums"
    )

    run_dir = WORK / f"run-{int(time.time())}"
    run_dir.mkdir(parents=True)
    warehouse = run_dir / "file" / "warehouse.duckdb"
    env = {
        **base,
        "METERHOUSE_WAREHOUSE": str(warehouse),
        "METERHOUSE_LAKE": str(warehouse.parent / "lake"),
    }
    seconds, results = _run_writers(files, 1, env, "file", profile=args.profile)
    _line("duckdb file x1", total_rows, seconds, None, results)
    expected = _check(env)

    moto = None
    postgres = PostgresServer().start()
    try:
        if args.s3:
            from moto.server import ThreadedMotoServer

            from tests.postgres_server import free_port

            port = free_port()
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
            moto.start()
            import boto3

            s3 = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                  "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
            boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"], region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket="lake")  # fmt: skip
            base.update(s3)
        import psycopg

        for writers in [int(w) for w in args.writers.split(",")]:
            catalog = postgres.create_database(f"bench_w{writers}")
            data = f"s3://lake/w{writers}/" if args.s3 else str(run_dir / f"lake-w{writers}")
            env = {**base, "METERHOUSE_WAREHOUSE_BACKEND": "ducklake",
                   "METERHOUSE_DUCKLAKE_CATALOG": catalog, "METERHOUSE_DUCKLAKE_DATA_PATH": data}  # fmt: skip
            seconds, results = _run_writers(
                files, writers, env, f"lake{writers}", profile=args.profile
            )
            with psycopg.connect(catalog) as pg:
                row = pg.execute("SELECT count(*) FROM ducklake_snapshot").fetchone()
            snapshots = int(row[0]) if row else 0
            _line(
                f"ducklake x{writers}",
                total_rows,
                seconds,
                snapshots,
                results,
                _data_files(catalog),
            )
            got = _check(env)
            if got != expected:
                raise SystemExit(
                    f"ducklake x{writers} disagrees with the DuckDB file: {got} != {expected}"
                )
        env["METERHOUSE_DUCKLAKE_CATALOG"] = postgres.create_database("bench_commits")
        print(
            f"catalog bare commit rate (one-row inserts, inlined): {_bare_commit_rate(env)} commits/s"
        )
        print(f"both sides agree: events, distinct ids, duplicates, quantity = {expected}")
    finally:
        if moto is not None:
            moto.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
