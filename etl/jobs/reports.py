"""What an ingest run reports: one FileReport per source file, BatchReports, run summaries.

Reports travel between orchestrator tasks (Airflow XCom) as plain dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.status import OK_STATUSES, SourceStatus
from etl.errors import IngestFailed

log = logging.getLogger("meterhouse.pipeline")

DRY_RUN = "dry_run"
"""The status of a file a dry run only listed."""


@dataclass(frozen=True)
class FileReport:
    """The outcome of one source file."""

    uri: str
    status: str
    source_format: str | None = None
    rows_in: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None
    seconds: float = 0.0
    touched_dates: tuple[str, ...] = ()
    findings: dict[str, int] = field(default_factory=dict)
    """FOCUS conformance findings per rule: rows loaded with a spec violation in a column that
    neither places nor prices them (never counted as rejects)."""


@dataclass(frozen=True)
class BatchReport:
    """The outcome of a batch of files, plus the event dates it touched."""

    files: list[FileReport]
    touched_dates: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Files, failed files and the row counts summed over the batch."""
        keys = ("rows_in", "events_loaded", "duplicates", "rejected")
        out = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        out["files"] = len(self.files)
        out["failed"] = sum(1 for f in self.files if f.status not in OK_STATUSES)
        return out

    def findings(self) -> dict[str, int]:
        """FOCUS conformance findings per rule, summed over the batch."""
        out: dict[str, int] = {}
        for f in self.files:
            for rule, count in f.findings.items():
                out[rule] = out.get(rule, 0) + count
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The report as plain values (for XCom)."""
        return {"files": [asdict(f) for f in self.files], "touched_dates": self.touched_dates}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BatchReport:
        """The report `to_dict` gave."""
        return cls(
            [
                FileReport(**{**f, "touched_dates": tuple(f.get("touched_dates", ()))})
                for f in raw["files"]
            ],
            list(raw.get("touched_dates", [])),
        )


def summarize_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals of a run's batch reports, with every failed file and its reason."""
    merged = BatchReport(
        [f for r in reports for f in BatchReport.from_dict(r).files],
        sorted({d for r in reports for d in r.get("touched_dates", [])}),
    )
    totals = merged.totals()
    log.info(
        "step=summary files=%d failed=%d rows_in=%d loaded=%d duplicates=%d rejected=%d dates=%d",
        totals["files"],
        totals["failed"],
        totals["rows_in"],
        totals["events_loaded"],
        totals["duplicates"],
        totals["rejected"],
        len(merged.touched_dates),
    )
    failed = [
        {"uri": f.uri, "status": f.status, "error": f.error}
        for f in merged.files
        if f.status in (SourceStatus.FAILED, SourceStatus.ERROR)
    ]
    for f in failed:
        log.error("step=summary source=%s status=%s error=%s", f["uri"], f["status"], f["error"])
    findings = merged.findings()
    for rule, count in findings.items():
        log.info("step=summary finding=%s rows=%d", rule, count)
    return {
        **totals,
        "touched_dates": merged.touched_dates,
        "failed_files": failed,
        "findings": findings,
    }


def raise_for_failures(summary: dict[str, Any]) -> None:
    """Fail loudly, naming each failed file and why, once the good files are loaded."""
    failed = summary.get("failed_files") or []
    if failed:
        lines = "\n".join(f"  {f['error']}" for f in failed)
        raise IngestFailed(
            f"{len(failed)} of {summary['files']} files failed; the others loaded:\n{lines}"
        )
