"""The ingest job tells the observer it is given how long each step took (the benchmark's
phase timers), without anything being patched; the default observer changes nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from etl.jobs.ingest import FileReport, ingest
from etl.jobs.observer import Phase
from etl.settings import Settings

FIXTURES = Path(__file__).parents[2] / "fixtures" / "focus"
MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Recorder:
    """Every report, in order."""

    def __init__(self) -> None:
        self.reports: list[tuple[Phase, float, str | None]] = []

    def on_phase(self, phase: Phase, seconds: float, source_format: str | None) -> None:
        self.reports.append((phase, seconds, source_format))

    def formats(self, phase: Phase) -> set[str | None]:
        return {fmt for p, _, fmt in self.reports if p is phase}


def _ndjson(prefix: str, rows: int) -> str:
    return "".join(
        json.dumps(
            {
                "customerId": "c1",
                "meterApiName": "gpu_hours",
                "meterValue": 1,
                "meterTimeInMillis": MS + i,
                "uniqueId": f"{prefix}-{i}",
            }
        )
        + "\n"
        for i in range(rows)
    )


def _exports(tmp_path: Path) -> Path:
    src = tmp_path / "exports"
    src.mkdir()
    (src / "small.ndjson").write_text(_ndjson("s", 3))
    (src / "large.ndjson").write_text(_ndjson("l", 400))
    shutil.copy(FIXTURES / "focus_1_0.csv", src / "focus.csv")
    return src


def _settings(tmp_path: Path, name: str) -> Settings:
    # large.ndjson (~50 KB) is over the chunk size: it loads chunk by chunk (not typed by
    # DuckDB from its file, whose phases are one load).
    return dataclasses.replace(
        Settings.from_env(tmp_path / name / "warehouse.duckdb"),
        chunk_bytes=16 * 1024,
        typed_load=False,
    )


def test_every_step_is_reported_with_the_format_it_ran_on(tmp_path: Path) -> None:
    src = _exports(tmp_path)
    recorder = Recorder()

    report = ingest([str(src)], _settings(tmp_path, "observed"), observer=recorder)

    assert report.totals()["failed"] == 0
    assert {p for p, _, _ in recorder.reports} == set(Phase)
    assert all(seconds >= 0 for _, seconds, _ in recorder.reports)
    assert recorder.formats(Phase.PARSE) == {"amberflo_ndjson", "focus_csv"}
    assert recorder.formats(Phase.NORMALIZE) == {"amberflo_ndjson"}
    assert recorder.formats(Phase.LOAD) == {"amberflo_ndjson", "focus_csv"}
    assert recorder.formats(Phase.DISCOVER) == recorder.formats(Phase.PUBLISH) == {None}
    # The streamed file's chunks are parsed and validated one by one.
    assert sum(1 for p, _, fmt in recorder.reports if p is Phase.VALIDATE) >= 4


def test_an_observed_run_loads_what_an_unobserved_one_does(tmp_path: Path) -> None:
    src = _exports(tmp_path)

    observed = ingest([str(src)], _settings(tmp_path, "a"), observer=Recorder())
    plain = ingest([str(src)], _settings(tmp_path, "b"))

    def counts(files: list[FileReport]) -> dict[str, tuple[str, int, int, int]]:
        return {Path(f.uri).name: (f.status, f.rows_in, f.events_loaded, f.rejected) for f in files}

    assert counts(observed.files) == counts(plain.files)
    assert observed.touched_dates == plain.touched_dates
