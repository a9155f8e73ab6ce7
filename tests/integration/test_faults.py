"""Faults, end to end: crashes, S3 faults, two runs at once, a full disk.

Each test compares against what one clean run leaves: nothing lost, nothing doubled, every
error explained.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.jobs.ingest import discover, ingest, ingest_batch
from etl.lake import MARKER
from etl.samples.amberflo import generate_amberflo_exports
from etl.settings import Settings
from etl.sources.stores import S3Config
from etl.warehouse import DiskFull
from tests.conftest import BUCKET, ROOT
from tests.integration._support import (
    bucket_keys,
    lake_digest,
    ndjson,
    put,
    q,
    rec,
    warehouse_digest,
)
from tests.integration.s3_faults import FaultProxy

pytestmark = [pytest.mark.integration]

SOURCE = f"s3://{BUCKET}/ingest/"


def _settings(path: Path) -> Settings:
    return Settings.from_env(path / "warehouse.duckdb")


def _upload_month(s3: Any) -> int:
    exports = generate_amberflo_exports(start=date(2026, 9, 1), days=2, customers=4, seed=3)
    for key, data in exports:
        put(s3, key, data)
    return len(exports)


def _child(warehouse: Path, mode: str, barrier: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tests.integration._ingest_child", str(warehouse), SOURCE, mode]
    if barrier is not None:
        args.append(str(barrier))
    return subprocess.Popen(
        args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _assert_consistent(warehouse: Path) -> int:
    """Every ledger row's counts match the rows stored for it, and no row lacks a ledger row."""
    if not warehouse.exists():
        return 0
    rows = q(
        warehouse,
        """SELECT l.source_uri, l.rows_in, l.events_loaded, l.duplicates, l.rejected,
                  (SELECT count(*) FROM meter_events m WHERE m.source_uri = l.source_uri),
                  (SELECT count(*) FROM duplicate_events d WHERE d.source_uri = l.source_uri),
                  (SELECT count(*) FROM rejected_rows r WHERE r.source_uri = l.source_uri)
           FROM ingest_ledger l""",
    )
    for uri, rows_in, loaded, dups, rejected, n_events, n_dups, n_rejects in rows:
        assert rows_in == loaded + dups + rejected == n_events + n_dups + n_rejects, uri
    assert q(
        warehouse,
        "SELECT count(*) FROM meter_events WHERE source_uri NOT IN (SELECT source_uri FROM ingest_ledger)",
    ) == [(0,)]
    return len(rows)


def _clean_run(tmp_path: Path) -> Settings:
    settings = _settings(tmp_path / "clean")
    report = ingest([SOURCE], settings)
    assert report.totals()["failed"] == 0
    return settings


# -- a load killed mid-way --------------------------------------------------------------------


@pytest.mark.parametrize("kill_at", [1, 4])
def test_sigkill_mid_load_then_rerun_equals_one_clean_run(s3: Any, tmp_path: Path, kill_at: int) -> None:
    files = _upload_month(s3)
    crashed = _settings(tmp_path / "crashed")
    proc = _child(crashed.warehouse_path, f"kill-mid-load:{kill_at}")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -9, err
    # what was committed before the kill is whole: every ledger row matches its rows
    committed = _assert_consistent(crashed.warehouse_path)
    assert committed < files
    assert committed == 2 * (kill_at - 1)  # the groups of two files before the kill

    rerun = ingest([SOURCE], crashed)
    assert rerun.totals()["files"] == files - committed
    assert rerun.totals()["failed"] == 0
    clean = _clean_run(tmp_path)
    assert warehouse_digest(crashed.warehouse_path) == warehouse_digest(clean.warehouse_path)
    assert q(crashed.warehouse_path, "SELECT count(*) - count(DISTINCT event_id) FROM meter_events") == [(0,)]


def test_sigkill_while_publishing_the_lake_keeps_the_warehouse_and_hides_the_half_file(
    s3: Any, tmp_path: Path
) -> None:
    _upload_month(s3)
    crashed = _settings(tmp_path / "crashed")
    proc = _child(crashed.warehouse_path, "kill-in-publish")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -9, err
    # the half-written file is a hidden temp file: every file a reader's `*.parquet` glob sees
    # is a complete Parquet file (partitions published before the kill are whole)
    visible = [p for p in crashed.lake_path.rglob("*.parquet") if not p.name.startswith(".")]
    with duckdb.connect() as con:
        for path in visible:
            con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
    assert all(b"half a parquet file" not in p.read_bytes() for p in visible)
    assert any(p.name.startswith(".") for p in crashed.lake_path.rglob("*.parquet.*"))
    ingest([SOURCE], crashed)
    clean = _clean_run(tmp_path)
    assert warehouse_digest(crashed.warehouse_path) == warehouse_digest(clean.warehouse_path)


def test_sigkill_while_publishing_then_rerun_publishes_the_lake(s3: Any, tmp_path: Path) -> None:
    _upload_month(s3)
    crashed = _settings(tmp_path / "crashed")
    proc = _child(crashed.warehouse_path, "kill-in-publish")
    proc.communicate(timeout=120)
    assert proc.returncode == -9
    ingest([SOURCE], crashed)
    clean = _clean_run(tmp_path)
    assert lake_digest(crashed.lake_path) == lake_digest(clean.lake_path)


# -- two runs at once -------------------------------------------------------------------------


def test_two_runs_at_once_never_corrupt_or_double_anything(s3: Any, tmp_path: Path) -> None:
    files = _upload_month(s3)
    shared = _settings(tmp_path / "shared")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [_child(shared.warehouse_path, "clean", barrier) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    finished = []
    for proc, (out, err) in zip(procs, results, strict=True):
        if proc.returncode == 0:
            finished.append(json.loads(out.strip().splitlines()[-1]))
        else:
            # A run may give up on the other's lock, but only with the retryable error that
            # makes Airflow try the task again (see the xfail below), never half-done.
            assert "RetryableError" in err and "locked" in err, err
    assert finished and all(t["failed"] == 0 for t in finished)
    ingest([SOURCE], shared)  # the retry of whichever gave up (a no-op if none did)
    clean = _clean_run(tmp_path)
    assert warehouse_digest(shared.warehouse_path) == warehouse_digest(clean.warehouse_path)
    assert lake_digest(shared.lake_path) == lake_digest(clean.lake_path)
    assert q(shared.warehouse_path, "SELECT count(*), count(DISTINCT event_id) FROM meter_events") == q(
        clean.warehouse_path, "SELECT count(*), count(DISTINCT event_id) FROM meter_events"
    )
    assert q(shared.warehouse_path, "SELECT count(*) FROM ingest_ledger WHERE status = 'loaded'") == [(files,)]


def test_a_run_waits_for_a_reader_of_another_process_instead_of_failing(
    s3: Any, settings: Settings
) -> None:
    put(s3, "ingest/a.ndjson", ndjson(rec("a1")))
    ingest([SOURCE], settings)
    put(s3, "ingest/b.ndjson", ndjson(rec("b1")))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(1.5); c.close()",
            str(settings.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        report = ingest([SOURCE], settings)
    finally:
        holder.wait(timeout=30)
    assert [(f.uri.rsplit("/", 1)[1], f.status) for f in report.files] == [("b.ndjson", "loaded")]


# -- S3 faults --------------------------------------------------------------------------------


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's computed retry delays, recorded; the waits themselves are skipped."""
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount
    delays: list[float] = []

    def record(self: Any, context: Any) -> float:
        delays.append(original(self, context))
        return 0.0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", record)
    # adaptive mode also rate-limits the client after throttling; skip those waits too
    monkeypatch.setattr(
        "botocore.retries.bucket.TokenBucket.acquire", lambda self, amount=1, block=True: True
    )
    monkeypatch.setattr("etl.sources.stores.BODY_READ_BACKOFF_S", 0.0)
    return delays


@pytest.fixture
def proxy(s3_server: str) -> Iterator[FaultProxy]:
    port = int(s3_server.rsplit(":", 1)[1])
    with FaultProxy(port) as p:
        yield p


def _via(p: FaultProxy) -> S3Config:
    return S3Config(endpoint_url=p.endpoint, region="us-east-1")


def _two_files(s3: Any) -> None:
    put(s3, "ingest/a.ndjson", ndjson(rec("a1"), rec("a2")))
    put(s3, "ingest/b.ndjson", ndjson(rec("b1")))


def test_throttling_is_retried_with_backoff_and_loads(
    s3: Any, settings: Settings, proxy: FaultProxy, backoffs: list[float]
) -> None:
    _two_files(s3)
    proxy.add("GET", "/usage/ingest/a.ndjson", "slowdown", 3)
    proxy.add("GET", "/usage?list-type", "slowdown", 1)
    report = ingest([SOURCE], settings, _via(proxy))
    assert [(f.uri.rsplit("/", 1)[1], f.status, f.events_loaded) for f in report.files] == [
        ("a.ndjson", "loaded", 2),
        ("b.ndjson", "loaded", 1),
    ]
    assert proxy.requests("GET", "/usage/ingest/a.ndjson") == ["slowdown"] * 3 + ["forward"]
    assert proxy.requests("GET", "/usage?list-type")[:2] == ["slowdown", "forward"]
    assert len(backoffs) == 4 and all(d >= 0 for d in backoffs) and any(d > 0 for d in backoffs)


def test_connection_resets_are_retried_and_load(
    s3: Any, settings: Settings, proxy: FaultProxy, backoffs: list[float]
) -> None:
    _two_files(s3)
    proxy.add("GET", "/usage/ingest/a.ndjson", "reset", 2)
    report = ingest([SOURCE], settings, _via(proxy))
    assert [f.status for f in report.files] == ["loaded", "loaded"]
    assert proxy.requests("GET", "/usage/ingest/a.ndjson") == ["reset", "reset", "forward"]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events ORDER BY 1") == [
        ("a1",),
        ("a2",),
        ("b1",),
    ]


def test_connection_reset_mid_body_is_read_again_never_half_loaded(
    s3: Any, settings: Settings, proxy: FaultProxy, backoffs: list[float]
) -> None:
    _two_files(s3)
    proxy.add("GET", "/usage/ingest/a.ndjson", "cut", 2)
    report = ingest([SOURCE], settings, _via(proxy))
    assert [f.status for f in report.files] == ["loaded", "loaded"]
    assert proxy.requests("GET", "/usage/ingest/a.ndjson") == ["cut", "cut", "forward"]
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(3,)]


def test_persistent_throttling_fails_the_file_as_retryable_and_the_next_run_loads_it(
    s3: Any, settings: Settings, proxy: FaultProxy, backoffs: list[float]
) -> None:
    _two_files(s3)
    proxy.add("GET", "/usage/ingest/a.ndjson", "slowdown", 1000)
    report = ingest([SOURCE], settings, _via(proxy))
    by_name = {f.uri.rsplit("/", 1)[1]: f for f in report.files}
    assert (by_name["a.ndjson"].status, by_name["b.ndjson"].status) == ("error", "loaded")
    uri = f"s3://{BUCKET}/ingest/a.ndjson"
    assert by_name["a.ndjson"].error == (
        f"reading {uri} failed: SlowDown An error occurred (SlowDown) when calling the GetObject "
        "operation (reached max retries: 8): Please reduce your request rate."
    )
    assert len(proxy.requests("GET", "/usage/ingest/a.ndjson")) == 9
    assert q(settings.warehouse_path, "SELECT status, rows_in, error FROM ingest_ledger WHERE source_uri = ?", [uri]) == [
        ("error", 0, by_name["a.ndjson"].error)
    ]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events") == [("b1",)]
    # the throttling passes: the next run picks the file up again (status `error` is retryable)
    proxy.rules.clear()
    again = ingest([SOURCE], settings, _via(proxy))
    assert [(f.uri, f.status, f.events_loaded) for f in again.files] == [(uri, "loaded", 2)]


def test_object_deleted_between_listing_and_reading_fails_clearly_alone(
    s3: Any, settings: Settings
) -> None:
    _two_files(s3)
    pending = discover([SOURCE], settings)
    s3.delete_object(Bucket=BUCKET, Key="ingest/a.ndjson")
    report = ingest_batch(pending, settings)
    uri = f"s3://{BUCKET}/ingest/a.ndjson"
    assert [(f.uri.rsplit("/", 1)[1], f.status, f.error) for f in report.files] == [
        ("a.ndjson", "failed", f"{uri} was deleted after it was listed"),
        ("b.ndjson", "loaded", None),
    ]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events") == [("b1",)]
    assert q(settings.warehouse_path, "SELECT status, error FROM ingest_ledger WHERE source_uri = ?", [uri]) == [
        ("failed", f"{uri} was deleted after it was listed")
    ]
    # a vanished object is no bad export: no reason object is written for it
    assert bucket_keys(s3, "failed-requests/") == []


def test_new_version_uploaded_while_being_read_is_never_half_loaded(
    s3: Any, settings: Settings, proxy: FaultProxy
) -> None:
    _two_files(s3)
    new_version = ndjson(rec("a1", 10), rec("a3", 30), rec("a4", 40))
    proxy.add(
        "GET",
        "/usage/ingest/a.ndjson",
        "hook",
        1,
        hook=lambda: put(s3, "ingest/a.ndjson", new_version),
    )
    report = ingest([SOURCE], settings, _via(proxy))
    uri = f"s3://{BUCKET}/ingest/a.ndjson"
    assert [(f.uri.rsplit("/", 1)[1], f.status, f.error) for f in report.files] == [
        ("a.ndjson", "failed", f"{uri} was replaced by a new upload while being read"),
        ("b.ndjson", "loaded", None),
    ]
    assert q(settings.warehouse_path, "SELECT event_id FROM meter_events") == [("b1",)]
    # the next run loads the new version, whole
    again = ingest([SOURCE], settings, _via(proxy))
    assert [(f.uri, f.status, f.events_loaded) for f in again.files] == [(uri, "loaded", 3)]
    rows = q(settings.warehouse_path, "SELECT event_id, quantity FROM meter_events WHERE source_uri = ? ORDER BY 1", [uri])
    assert [(r[0], int(r[1])) for r in rows] == [("a1", 10), ("a3", 30), ("a4", 40)]


# -- disk full --------------------------------------------------------------------------------


@contextlib.contextmanager
def _tiny_filesystem(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _fill_the_disk(s3: Any, tmp_path: Path) -> tuple[str, dict[str, str], dict[str, str], Settings]:
    """Load a small file on a 6 MB filesystem, then one that cannot fit; return the failed
    file's ledger error, the digests from before it, and a copy of the warehouse files taken
    after it."""
    with _tiny_filesystem(tmp_path / "tiny", "6m") as tiny:
        settings = _settings(tiny)
        put(s3, "ingest/a.ndjson", ndjson(rec("a1"), rec("a2")))
        assert ingest([SOURCE], settings).totals()["events_loaded"] == 2
        before = warehouse_digest(settings.warehouse_path)
        lake_before = lake_digest(settings.lake_path)
        big = [
            rec(f"big-{i}-{uuid.UUID(int=i)}", i, team=f"t{i % 97}", host=f"h{i}")
            for i in range(60_000)
        ]
        put(s3, "ingest/b.ndjson", ndjson(*big))
        # The file fails on its own (retryable: it loads once there is space); the run goes on.
        report = ingest([SOURCE], settings)
        assert [(f.uri.rsplit("/", 1)[1], f.status) for f in report.files] == [
            ("b.ndjson", "error")
        ]
        copy = tmp_path / "copy"
        shutil.copytree(tiny, copy, ignore=shutil.ignore_patterns("*.tmp"))
    return (
        report.files[0].error or "",
        before,
        lake_before,
        Settings(copy / "warehouse.duckdb", copy / "lake"),
    )


def test_disk_full_while_loading_keeps_the_previous_state(s3: Any, tmp_path: Path) -> None:
    _, before, lake_before, after = _fill_the_disk(s3, tmp_path)
    # with space again, the warehouse opens and holds exactly what it held before, plus the
    # ledger row of the file the full disk stopped
    digest = warehouse_digest(after.warehouse_path)
    assert {k: v for k, v in digest.items() if k != "ingest_ledger"} == {
        k: v for k, v in before.items() if k != "ingest_ledger"
    }
    assert q(
        after.warehouse_path,
        "SELECT source_key, status, events_loaded FROM ingest_ledger ORDER BY 1",
    ) == [
        ("ingest/a.ndjson", "loaded", 2),
        ("ingest/b.ndjson", "error", 0),
    ]
    lake_after = lake_digest(after.lake_path)
    assert {k: v for k, v in lake_after.items() if k != "ingest_ledger"} == {
        k: v for k, v in lake_before.items() if k != "ingest_ledger"
    }
    report = ingest([SOURCE], after)
    assert [(f.uri.rsplit("/", 1)[1], f.status, f.events_loaded) for f in report.files] == [
        ("b.ndjson", "loaded", 60_000)
    ]


def test_disk_full_while_loading_fails_with_a_clear_error(s3: Any, tmp_path: Path) -> None:
    error, *_ = _fill_the_disk(s3, tmp_path)
    assert "disk full while writing warehouse" in error and "No space left on device" in error, (
        error
    )


def test_disk_full_while_writing_the_lake_keeps_the_previous_partition(
    s3: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(s3, "ingest/a.ndjson", ndjson(rec("a1"), rec("a2")))
    ingest([SOURCE], settings)
    lake_before = lake_digest(settings.lake_path)
    files_before = sorted(p.relative_to(settings.lake_path) for p in settings.lake_path.rglob("*"))
    real_fsync = os.fsync

    def fsync_disk_full(fd: int) -> None:
        # A full disk shows when the written partition is flushed, before it replaces the old one.
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_disk_full)
    put(s3, "ingest/b.ndjson", ndjson(rec("b1")))
    with pytest.raises(DiskFull, match="No space left on device") as failure:
        ingest([SOURCE], settings)
    assert isinstance(failure.value.__cause__, OSError) and failure.value.__cause__.errno == errno.ENOSPC
    # readers still see the previous partition, whole; no temp file is left behind, only the
    # marker that tells readers the lake is behind the warehouse
    assert lake_digest(settings.lake_path) == lake_before
    files_after = sorted(p.relative_to(settings.lake_path) for p in settings.lake_path.rglob("*"))
    assert files_after == sorted([*files_before, Path(MARKER)])
    # the next run, with space again, publishes what the failed one could not
    monkeypatch.setattr(os, "fsync", real_fsync)
    ingest([SOURCE], settings)
    assert q(settings.warehouse_path, "SELECT count(*) FROM meter_events") == [(3,)]
    assert sum(1 for _ in settings.lake_path.rglob("event_date=*/*.parquet")) >= 1
    with duckdb.connect() as con:
        lake_rows = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(settings.lake_path / "meter_events" / "*" / "*.parquet")]
        ).fetchone()
    assert lake_rows == (3,)
