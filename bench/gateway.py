"""Benchmark of the ingest gateway: wrk posting batches of records, against moto's S3.

    make bench-gateway                                   # 20 s per side, 16 connections
    make bench-gateway GATEWAY_BENCH_ARGS="--duration 5 --connections 8 --workers 2"

Starts moto's S3 server, then for each side (the gateway, `meterhouse serve`; the floor,
bench/gateway_floor.py: read the body, PUT it, answer) a server on 127.0.0.1 and `wrk` with a
Lua script that posts gzip JSON arrays of `--records` records (uuid4 hex uniqueIds, like the
SDK) in rotation. Reports records/s acknowledged (200s x records per request) and checks they
are durable (the objects in S3 hold at least that many records), p50/p99 latency from wrk, the
server's peak RSS (process tree, sampled every 100 ms) and the non-200 answers.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from local_s3 import free_port, s3_env, start_s3  # noqa: E402

KEY = "bench-gateway-key"
BUCKET = "usage"
LANDING = f"s3://{BUCKET}/ingest/"

LUA = r"""
local bodies = {}
local n = 0
for i = 0, @BODIES@ - 1 do
  local f = io.open(@DIR@ .. "/body-" .. i .. ".bin", "rb")
  bodies[i + 1] = f:read("*all")
  f:close()
end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok = 0
  other = 0
  codes = ""
end
function request()
  n = n + 1
  return wrk.format("POST", "@PATH@", {
    ["Content-Type"] = "@TYPE@",
    ["Content-Encoding"] = "@ENCODING@",
    ["X-Prometheus-Remote-Write-Version"] = "0.1.0",
    ["X-API-KEY"] = "@KEY@",
  }, bodies[(n % #bodies) + 1])
end
function response(status, headers, body)
  if status == 200 or status == 204 then ok = ok + 1 else other = other + 1; codes = codes .. status .. " " end
end
function done(summary, latency, requests)
  local oks, others, seen = 0, 0, ""
  for _, t in ipairs(threads) do
    oks = oks + t:get("ok")
    others = others + t:get("other")
    seen = seen .. string.sub(t:get("codes"), 1, 200)
  end
  io.write(string.format(
    'RESULT {"ok": %d, "other": %d, "codes": "%s", "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"duration_us": %d, "socket_errors": %d}\n',
    oks, others, seen, latency:percentile(50), latency:percentile(99), latency.max,
    summary.duration, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""


def write_bodies(folder: Path, count: int, records: int, ids: str) -> int:
    now = int(time.time() * 1000)
    size = 0
    for i in range(count):
        batch = [
            {
                "customerId": f"customer-{(i * records + j) % 300}",
                "meterApiName": ("gpu_hours", "cpu_hours", "egress_gb")[j % 3],
                "meterValue": f"{(j % 97) + 1}.25",
                "meterTimeInMillis": now - j * 1000,
                "uniqueId": uuid.uuid4().hex if ids == "hex" else str(uuid.uuid4()),
                "dimensions": {"region": "eu-west-1", "team": f"team-{j % 12}"},
            }
            for j in range(records)
        ]
        data = gzip.compress(json.dumps(batch).encode(), compresslevel=5)
        size = len(data)
        (folder / f"body-{i}.bin").write_bytes(data)
    return size


def write_remote_bodies(folder: Path, count: int, samples: int) -> int:
    """Remote write 1.0 bodies as a scraping Prometheus sends them: `samples` series x 1
    sample, 7 labels each (bench/prometheus.py's series)."""
    from bench.prometheus import T0, remote_write_series
    from tests.prometheus_wire import v1_body

    size = 0
    for i in range(count):
        data = v1_body(remote_write_series(samples, T0 + i * 15_000))
        size = len(data)
        (folder / f"body-{i}.bin").write_bytes(data)
    return size


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.1)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the uvicorn workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited; see {log}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"server did not start; see {log}")


def count_stored(endpoint: str, prefix: str) -> int:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
            stripped = body.strip()
            # gateway objects are NDJSON; the floor stores the request's JSON array as is
            total += (
                stripped.count(b"\n") + 1
                if not stripped.startswith(b"[")
                else len(json.loads(stripped))
            )
    return total


def run_side(
    name: str, argv: list[str], env: dict[str, str], port: int, args: argparse.Namespace,
    lua: Path, work: Path, s3_endpoint: str, prefix: str, s3_pid: int,
) -> dict[str, Any]:  # fmt: skip
    log = work / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz", proc, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        load_before = os.getloadavg()[0]
        cpu_before = tree_cpu_seconds(proc.pid), tree_cpu_seconds(s3_pid)
        wrk = subprocess.run(
            ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
             "--timeout", "30s", "-s", str(lua), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        server_cpu = tree_cpu_seconds(proc.pid) - cpu_before[0]
        s3_cpu = tree_cpu_seconds(s3_pid) - cpu_before[1]
        load_after = os.getloadavg()[0]
        sampler.stop.set()
        sampler.join()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    line = next(x for x in wrk.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    acked = result["ok"] * args.records
    seconds = result["duration_us"] / 1e6
    stored = count_stored(s3_endpoint, prefix)
    return {
        "name": name,
        "records_per_s": acked / seconds,
        "requests_ok": result["ok"],
        "non_200": result["other"],
        "codes": result["codes"].strip()[:80],
        "socket_errors": result["socket_errors"],
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "peak_rss_mib": sampler.peak / 2**20,
        "acked_records": acked,
        "stored_records": stored,
        "durable": stored >= acked,
        # CPU per 1,000 acknowledged records: what the side costs, whatever else runs
        "server_cpu_ms_per_1k": 1e6 * server_cpu / max(acked, 1),
        "s3_cpu_ms_per_1k": 1e6 * s3_cpu / max(acked, 1),
        "load_average": (load_before, load_after),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per side")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--records", type=int, default=500, help="records per request")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per side")
    parser.add_argument("--linger-ms", type=int, default=100)
    parser.add_argument("--no-floor", action="store_true", help="skip the baseline")
    parser.add_argument(
        "--remote-write",
        action="store_true",
        help="post Prometheus remote write 1.0 bodies of --records samples to /api/v1/write "
        "(no floor side)",
    )
    parser.add_argument(
        "--ids",
        choices=["hex", "uuid"],
        default="hex",
        help="uniqueIds as uuid4 hex (the SDK's, default) or dashed uuid4 text",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="meterhouse-bench-gateway-"))
    if args.remote_write:
        args.no_floor = True
        body_bytes = write_remote_bodies(work, 8, args.records)
        post = ("/api/v1/write", "application/x-protobuf", "snappy")
    else:
        body_bytes = write_bodies(work, 8, args.records, args.ids)
        post = ("/ingest", "application/json", "gzip")
    lua = work / "post.lua"
    lua.write_text(
        LUA.replace("@BODIES@", "8").replace("@DIR@", json.dumps(str(work))).replace("@KEY@", KEY)
        .replace("@PATH@", post[0]).replace("@TYPE@", post[1]).replace("@ENCODING@", post[2])
    )  # fmt: skip
    s3_port = free_port()
    s3 = start_s3(s3_port, work / "s3.log")
    results = []
    try:
        os.environ.update(s3_env(s3_port))  # this process reads S3 too (the durability check)
        env = dict(os.environ)
        endpoint = env["AWS_ENDPOINT_URL"]
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        venv_bin = Path(sys.executable).parent
        gw_port = free_port()
        gw_env = {
            **env,
            "METERHOUSE_LANDING": LANDING,
            "METERHOUSE_GATEWAY_API_KEYS": hashlib.sha256(KEY.encode()).hexdigest(),
            "METERHOUSE_GATEWAY_LINGER_MS": str(args.linger_ms),
        }
        gw_argv = [str(venv_bin / "meterhouse"), "serve", "--port", str(gw_port),
                   "--workers", str(args.workers)]  # fmt: skip
        landed = "ingest/prometheus/" if args.remote_write else "ingest/api/"
        gw_side = ("gateway", gw_argv, gw_env, gw_port, args, lua, work, endpoint, landed)
        results.append(run_side(*gw_side, s3.pid))
        if not args.no_floor:
            fl_port = free_port()
            fl_argv = [sys.executable, "-m", "bench.gateway_floor", str(fl_port), LANDING]
            if args.workers > 1:
                fl_argv = [str(venv_bin / "uvicorn"), "--factory", "bench.gateway_floor:factory",
                           "--port", str(fl_port), "--workers", str(args.workers), "--log-level", "warning"]  # fmt: skip
            results.append(run_side("floor", fl_argv, {**env, "FLOOR_LANDING": LANDING}, fl_port,
                                    args, lua, work, endpoint, "ingest/floor/", s3.pid))  # fmt: skip
    finally:
        s3.terminate()
        s3.wait(timeout=30)
    print(f"\n{args.records} records per request ({body_bytes} bytes compressed), {args.connections} "
          f"connections, {args.threads} wrk threads, {args.duration} s, {args.workers} worker(s), "
          f"uniqueIds {args.ids}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    header = (f"{'side':8} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>12} "
              f"{'CPU ms/1k':>9} {'S3 CPU ms/1k':>12} {'load':>9} {'200s':>7} {'other':>6} durable")  # fmt: skip
    print(header)
    print("-" * len(header))
    for r in results:
        load = "{:.1f}-{:.1f}".format(*r["load_average"])
        print(f"{r['name']:8} {r['records_per_s']:>10,.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['peak_rss_mib']:>12.0f} {r['server_cpu_ms_per_1k']:>9.1f} "
              f"{r['s3_cpu_ms_per_1k']:>12.1f} {load:>9} {r['requests_ok']:>7} {r['non_200']:>6} "
              f"{'yes' if r['durable'] else 'NO'} ({r['stored_records']}/{r['acked_records']})"
              + (f" codes: {r['codes']}" if r["codes"] else ""))  # fmt: skip
    if len(results) == 2 and results[1]["records_per_s"]:
        ratio = results[1]["records_per_s"] / max(results[0]["records_per_s"], 1)
        print(f"floor / gateway throughput: {ratio:.2f}x (target <= 1.5x)")
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"details: {work}")
    return 0 if all(r["durable"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
