"""A full disk (issue 19, finding 5): a clear error instead of a traceback, the ledger records
the files that could not load, and `meterhouse sql` says the lake is behind the warehouse
instead of answering from a half-published lake. A bigger disk and a rerun repair it."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import etl.lake.publish
from etl.cli import main
from etl.samples.amberflo import generate_amberflo_exports

pytestmark = [pytest.mark.integration]


def _exports(folder: Path, days: int, customers: int) -> Path:
    for key, data in generate_amberflo_exports(
        start=date(2026, 3, 1), days=days, customers=customers, seed=3
    ):
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (needs root, which CI containers have); skipped where it cannot mount."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_clearly_records_the_files_and_a_rerun_repairs(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _exports(tmp_path / "first", days=3, customers=60)
    exports = _exports(tmp_path / "exports", days=20, customers=300)
    wh = str(small_disk / "wh" / "warehouse.duckdb")
    assert _run(capsys, "ingest", str(first), "--warehouse", wh, "--quiet", "--strict")[0] == 0
    code, _, err = _run(capsys, "ingest", str(exports), "--warehouse", wh, "--quiet")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("meterhouse: disk full while writing warehouse")
    assert "No space left on device" in err
    # the ledger holds the files the full disk stopped, retryable, with the reason
    code, out, _ = _run(
        capsys,
        "sql",
        "SELECT status, count(*) AS n, min(error) AS e FROM ingest_ledger WHERE status <> 'loaded' GROUP BY ALL",
        "--warehouse",
        wh,
        "--live",
        "--format",
        "csv",
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert (
        len(lines) == 2 and lines[1].startswith("error,") and "disk full while writing" in lines[1]
    )
    code, _, err = _run(capsys, "sql", "SELECT count(*) FROM meter_events", "--warehouse", wh)
    assert code == 2
    assert err.startswith(
        f"meterhouse sql: the published lake {small_disk / 'wh' / 'lake'} is behind the warehouse ("
    )
    assert "`meterhouse sql --live`" in err
    # a bigger disk, the same command: everything loaded exactly once
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    code, _, _ = _run(capsys, "ingest", str(exports), "--warehouse", wh, "--quiet", "--strict")
    assert code == 0
    fresh = str(tmp_path / "fresh" / "warehouse.duckdb")
    for source in (first, exports):
        assert (
            _run(capsys, "ingest", str(source), "--warehouse", fresh, "--quiet", "--strict")[0] == 0
        )
    query = "SELECT count(*), sum(quantity) FROM meter_events"
    assert (
        _run(capsys, "sql", query, "--warehouse", wh)[1]
        == _run(capsys, "sql", query, "--warehouse", fresh)[1]
    )


def test_a_failed_publish_makes_sql_say_the_lake_is_behind_until_a_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _exports(tmp_path / "first", days=1, customers=5)
    second = _exports(tmp_path / "second", days=2, customers=7)
    wh = str(tmp_path / "wh" / "warehouse.duckdb")
    assert _run(capsys, "ingest", str(first), "--warehouse", wh, "--quiet", "--strict")[0] == 0
    count = "SELECT count(*) AS n FROM meter_events"
    published_before = _run(capsys, "sql", count, "--warehouse", wh, "--format", "csv")[1]

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # views.sql is written after the event partitions: the loads committed, the publish did not
    monkeypatch.setattr(etl.lake.publish, "write_text_atomically", disk_full)
    code, _, err = _run(capsys, "ingest", str(second), "--warehouse", wh, "--quiet")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("meterhouse: disk full while writing warehouse")
    monkeypatch.undo()
    code, _, err = _run(capsys, "sql", count, "--warehouse", wh)
    assert code == 2 and "is behind the warehouse" in err and "No space left on device" in err
    live = _run(capsys, "sql", count, "--warehouse", wh, "--live", "--format", "csv")[1]
    assert live != published_before
    # the rerun finds nothing new to load and publishes what is pending
    assert _run(capsys, "ingest", str(second), "--warehouse", wh, "--quiet", "--strict")[0] == 0
    assert _run(capsys, "sql", count, "--warehouse", wh, "--format", "csv") == (0, live, "")
