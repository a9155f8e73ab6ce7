"""meterhouse vs plain DuckDB SQL on the same generated exports, side by side in one run.

    python -m bench.run [--sizes 1M,10M] [--formats csv,ndjson,focus] [--no-incremental] [--profile]

For every size and format: write the exports once into bench/.cache (deterministic, reused),
run the baseline (bench.baseline) and meterhouse (etl.jobs.ingest.ingest into a fresh warehouse,
then the same daily rollup), each in its own process, check that both load the same events,
duplicates, rejects and quantity total, and print wall time, events/s, peak RSS and the ratio.
Then, for Amberflo formats, the incremental scenarios: a run with nothing new on the warehouse
just built, and 100k new events into that warehouse vs into an empty one. `--profile` adds a
py-spy run of the meterhouse side (collapsed stacks, open them in speedscope) and prints the
frames that dominate. Exit status 1 when the two sides disagree or a file failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.exports import ExportSpec, write_exports

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
COMPARED = ("rows_in", "events_loaded", "duplicates", "rejected", "quantity")
INCREMENTAL_EVENTS = 100_000


def parse_size(text: str) -> int:
    """`1M`, `10M`, `500k`, `250000` -> number of events."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    return int(float(number) * scale)


def human(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def run_side(
    side: str,
    src: Path,
    fmt: str,
    work: Path,
    *,
    fresh: bool = True,
    extra: list[str] | None = None,
    wrap: list[str] | None = None,
) -> dict[str, Any]:
    """One side in its own process; returns its BENCH_RESULT plus the process wall time."""
    if fresh and work.exists():
        shutil.rmtree(work)
    cmd = [
        *(wrap or []), sys.executable, "-m", "bench.child", side,
        "--src", str(src), "--fmt", fmt, "--work", str(work), *(extra or []),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    result = next(
        (
            json.loads(line[13:])
            for line in proc.stdout.splitlines()
            if line.startswith("BENCH_RESULT ")
        ),
        None,
    )
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"{side} failed on {src} (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result["process_seconds"] = wall
    return result


def _row(size: str, fmt: str, side: str, r: dict[str, Any], ratio: str, rss_ratio: str) -> str:
    rate = r["rows_in"] / r["seconds"] if r["seconds"] else 0.0
    return (
        f"| {size} | {fmt} | {side} | {r['rows_in']:,} | {r['seconds']:.1f} | "
        f"{r['process_seconds']:.1f} | {rate:,.0f} | {r['peak_rss_mib']:,.0f} | {ratio} | {rss_ratio} |"
    )


def compare(size: int, fmt: str, base: dict[str, Any], mh: dict[str, Any]) -> list[str]:
    problems = [
        f"{human(size)} {fmt}: {k} meterhouse={mh[k]} baseline={base[k]}"
        for k in COMPARED
        if str(mh[k]) != str(base[k])
    ]
    problems += [f"{human(size)} {fmt}: failed file {f}" for f in mh.get("failed", [])]
    if mh["stored_events"] != mh["events_loaded"]:
        problems.append(
            f"{human(size)} {fmt}: ledger says {mh['events_loaded']} loaded, table holds {mh['stored_events']}"
        )
    return problems


def profile_side(src: Path, fmt: str, work: Path, out: Path) -> list[str]:
    """py-spy the meterhouse side; returns the lines of a summary of where the time goes."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return ["py-spy is not installed (uv sync --all-groups)"]
    out.parent.mkdir(parents=True, exist_ok=True)
    run_side(
        "meterhouse", src, fmt, work,
        wrap=[str(py_spy), "record", "--format", "raw", "--rate", "50", "-o", str(out), "--"],
    )  # fmt: skip
    return summarize_collapsed(out)


def summarize_collapsed(path: Path, top: int = 20) -> list[str]:
    """The hottest functions of a collapsed-stack file: inclusive and self share of samples."""
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    own_line: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        own_line[_frame_name(stack.split(";")[-1], line=True)] += count
    if not total:
        return ["no samples"]
    harness = ("<frozen", "(child.py)", "(run.py)")
    lines = [
        f"samples: {total}",
        "",
        "| function (file) | inclusive % | self % |",
        "|---|---:|---:|",
    ]
    ranked = [
        kv
        for kv in sorted(inclusive.items(), key=lambda kv: -kv[1])
        if not any(h in kv[0] for h in harness)
    ]
    for name, count in ranked[:top]:
        lines.append(
            f"| {name} | {100 * count / total:.1f} | {100 * own.get(name, 0) / total:.1f} |"
        )
    lines += ["", "| top self time: function (file:line) | self % |", "|---|---:|"]
    for name, count in sorted(own_line.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {name} | {100 * count / total:.1f} |")
    return lines


def _frame_name(frame: str, *, line: bool = False) -> str:
    # py-spy raw frames look like `function (path/to/file.py:123)`.
    function, _, location = frame.partition(" (")
    path, _, number = location.rstrip(")").rpartition(":")
    file = (path or number).rsplit("/", 1)[-1]
    return f"{function} ({file}:{number})" if line and path else f"{function} ({file})"


def _code_version() -> str:
    """The commit measured, and whether etl/ or contracts/ had uncommitted edits."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "etl", "contracts"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head}{' + uncommitted etl/contracts edits' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--formats", default="csv,ndjson,focus")
    parser.add_argument("--file-events", default="1M", help="events per export file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="meterhouse only (peak RSS and incremental cost at sizes the baseline cannot hold)",
    )
    parser.add_argument("--profile", action="store_true", help="also py-spy the meterhouse side")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    file_events = parse_size(args.file_events)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    header = [
        "| size | format | side | rows | wall s | process s | events/s | peak RSS MiB | wall ratio | RSS ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table: list[str] = []
    phase_lines: list[str] = []
    incremental: list[str] = []
    profiles: list[str] = []
    problems: list[str] = []
    results: list[dict[str, Any]] = []
    for size in sizes:
        for fmt in formats:
            spec = ExportSpec(size, fmt, seed=args.seed, file_events=file_events)
            t = time.perf_counter()
            src = write_exports(spec, args.cache)
            print(f"exports {spec.key()}: {time.perf_counter() - t:.1f}s ({src})", flush=True)
            runs = args.cache / "runs" / f"{human(size)}-{fmt}"
            base = None
            if not args.no_baseline:
                base = run_side("baseline", src, fmt, runs / "baseline")
                print(
                    f"  baseline   {base['seconds']:.1f}s {base['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
            mh = run_side("meterhouse", src, fmt, runs / "meterhouse")
            print(f"  meterhouse {mh['seconds']:.1f}s {mh['peak_rss_mib']:.0f} MiB", flush=True)
            if base is not None:
                problems += compare(size, fmt, base, mh)
                ratio = f"{mh['seconds'] / base['seconds']:.2f}x"
                rss_ratio = f"{mh['peak_rss_mib'] / base['peak_rss_mib']:.2f}x"
                table.append(_row(human(size), fmt, "baseline (DuckDB SQL)", base, "", ""))
            else:
                ratio = rss_ratio = "(no baseline)"
            table.append(_row(human(size), fmt, "meterhouse", mh, ratio, rss_ratio))
            phases = mh["phases"]
            phase_lines.append(f"\n{human(size)} {fmt}: meterhouse {mh['seconds']:.1f}s")
            phase_lines.append("| phase | seconds | share |")
            phase_lines.append("|---|---:|---:|")
            for name, secs in sorted(phases.items(), key=lambda kv: -kv[1]):
                phase_lines.append(f"| {name} | {secs:.1f} | {100 * secs / mh['seconds']:.1f}% |")
            if base is not None:
                phase_lines.append(
                    f"baseline {base['seconds']:.1f}s: "
                    + ", ".join(f"{k}={v:.1f}s" for k, v in base["phases"].items())
                )
            share = phases.get("validate (pandera)", 0.0) / mh["seconds"]
            phase_lines.append(f"pandera share: {100 * share:.1f}% (target <= 20%)")
            entry: dict[str, Any] = {
                "size": size,
                "format": fmt,
                "baseline": base,
                "meterhouse": mh,
            }
            if args.profile:
                out = args.cache / "profiles" / f"{stamp}-{human(size)}-{fmt}.collapsed.txt"
                summary = profile_side(src, fmt, runs / "profiled", out)
                profiles += [f"\n{human(size)} {fmt}: {out}", *summary]
                shutil.rmtree(runs / "profiled", ignore_errors=True)
            if not args.no_incremental and fmt in ("csv", "ndjson"):
                noop = run_side(
                    "meterhouse", src, fmt, runs / "meterhouse", fresh=False, extra=["--no-rollup"]
                )
                inc_spec = ExportSpec(
                    INCREMENTAL_EVENTS, fmt, seed=args.seed + 1, file_events=INCREMENTAL_EVENTS,
                    first_id=1_000_000_000,
                )  # fmt: skip
                inc_src = write_exports(inc_spec, args.cache)
                empty = run_side(
                    "meterhouse", inc_src, fmt, runs / "inc-empty", extra=["--no-rollup"]
                )
                big = run_side(
                    "meterhouse",
                    inc_src,
                    fmt,
                    runs / "meterhouse",
                    fresh=False,
                    extra=["--no-rollup"],
                )
                entry["incremental"] = {"noop": noop, "into_empty": empty, "into_big": big}
                if noop["files"] != 0:
                    problems.append(
                        f"{human(size)} {fmt}: a run with nothing new loaded {noop['files']} files"
                    )
                incremental += [
                    f"| {human(size)} {fmt} | nothing new on the {human(size)} warehouse | {noop['seconds']:.2f} | {noop['process_seconds']:.1f} | |",
                    f"| {human(size)} {fmt} | 100k new into an empty warehouse | {empty['seconds']:.2f} | {empty['process_seconds']:.1f} | |",
                    f"| {human(size)} {fmt} | 100k new into the {human(size)} warehouse | {big['seconds']:.2f} | {big['process_seconds']:.1f} | {big['seconds'] / empty['seconds']:.2f}x (target <= 2x) |",
                ]
                phase_lines.append(
                    "100k into big, phases: "
                    + ", ".join(
                        f"{k}={v:.1f}s"
                        for k, v in sorted(big["phases"].items(), key=lambda kv: -kv[1])
                        if v >= 0.05
                    )
                )
            results.append(entry)
    print("\n## Results\n")
    print(f"code: {_code_version()}; machine: {os.cpu_count()} cores\n")
    print(
        "wall s = the side's work (imports excluded); process s = the whole child process; "
        "ratio = meterhouse / baseline.\n"
    )
    print("\n".join(header + table))
    if incremental:
        print("\n## Incremental (meterhouse)\n")
        print("| run | scenario | wall s | process s | big / empty |\n|---|---|---:|---:|---:|")
        print("\n".join(incremental))
    print("\n## Where meterhouse spends its time (phases)")
    print("\n".join(phase_lines))
    if profiles:
        print("\n## py-spy (meterhouse side)")
        print("\n".join(profiles))
    out = args.cache / f"results-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nraw results: {out}")
    if problems:
        print("\nMISMATCH:\n" + "\n".join(problems))
        return 1
    print(
        "\nboth sides agree on rows_in, events_loaded, duplicates, rejected and the quantity total"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
