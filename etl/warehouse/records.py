"""What goes into a load and what comes out of it: plain records, no SQL."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from contracts.status import SourceStatus
from etl.warehouse.focus_reconciliation import SourceTotals

# Ledger statuses (aliases of contracts.status.SourceStatus). `error` is retryable and is
# picked up again by the next discovery.
LOADED, EMPTY, FAILED, ERROR = (
    SourceStatus.LOADED.value,
    SourceStatus.EMPTY.value,
    SourceStatus.FAILED.value,
    SourceStatus.ERROR.value,
)


@dataclass(frozen=True)
class LedgerEntry:
    """What the warehouse remembers of one source object."""

    source_uri: str
    etag: str
    size_bytes: int
    checksum_sha256: str | None
    status: str


@dataclass(frozen=True)
class SourceLoad:
    """Everything one source file contributes, loaded in one transaction."""

    source_uri: str
    source_key: str
    etag: str
    size_bytes: int
    checksum_sha256: str
    last_modified: datetime
    source_format: str | None
    rows_in: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    # FOCUS files only: the typed line items (aligned with events by source_row) and the
    # export they belong to, whose billing periods a newer delivery replaces.
    focus_line_items: pl.DataFrame | None = None
    delivery_key: str | None = None
    delivery_window_s: int = 3600
    # FOCUS files: conformance findings of the kept rows, every row's currency and cost text
    # (for reconciliation), or, for a file loaded in chunks, the totals already summed from it.
    focus_findings: pl.DataFrame | None = None
    focus_amounts: pl.DataFrame | None = None
    focus_totals: SourceTotals | None = None


@dataclass(frozen=True)
class PreparedEvents:
    """Valid events in the form the warehouse inserts them (`etl.warehouse.prepare_events`),
    made ready away from the loading thread."""

    frame: pl.DataFrame
    """The stored columns (dimensions as MAP input) and `_first`: whether a row is the first
    copy of its event_id among these events."""
    select: str
    """The SQL select list of the stored columns over `frame` (ingested_at is the parameter)."""
    all_first: bool
    """No event_id repeats among these events."""
    counts: dict[str, int]
    """Events per source file."""
    dates: dict[str, set[date]]
    """Event dates per source file."""


@dataclass(frozen=True)
class Chunk:
    """One slice of a large file: its rows read, valid events and rejects."""

    rows_in: int
    events: PreparedEvents  # its valid events, ready to insert
    rejects: pl.DataFrame
    focus_line_items: pl.DataFrame | None = None  # FOCUS files: the chunk's line items
    focus_findings: pl.DataFrame | None = None  # ... its conformance findings
    focus_amounts: pl.DataFrame | None = None  # ... and its rows' currency and cost text


@dataclass(frozen=True)
class LoadResult:
    """Counts of one file's load; rows_in == events_loaded + duplicates + rejected."""

    source_uri: str
    status: str
    rows_in: int
    events_loaded: int
    duplicates: int
    rejected: int
    touched_dates: frozenset[date]
    findings: tuple[tuple[str, int], ...] = ()
    """FOCUS files: conformance findings per rule (the rows are loaded, not rejected)."""


@dataclass(frozen=True)
class Retraction:
    """What retracting one source removed: its events, duplicates and rejects (as the ledger
    counted them) and the event dates whose stored rows changed."""

    source_uri: str
    events: int
    duplicates: int
    rejected: int
    touched_dates: frozenset[date]


@dataclass(frozen=True)
class Lineage:
    """Who loaded a file, recorded on its ledger row: an Airflow DAG run and task try, or the
    command line (`run_id` "cli") and the OS user who ran it.

    `run_started_at`: when the run (the DAG run, or the command) started; a CLI invocation is
    told apart from the next one by it.
    """

    run_id: str
    dag_id: str | None = None
    try_number: int | None = None
    os_user: str | None = None
    run_started_at: datetime | None = None

    @classmethod
    def cli(cls, started_at: datetime | None = None) -> Lineage:
        """The lineage of a load from the command line (or any caller outside Airflow)."""
        return cls(CLI_RUN_ID, os_user=os_user(), run_started_at=started_at or _utcnow())

    def ledger_values(self) -> dict[str, object]:
        """The ledger columns this lineage fills."""
        return {
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "try_number": self.try_number,
            "os_user": self.os_user,
            "run_started_at": self.run_started_at,
        }


CLI_RUN_ID = "cli"
"""The run id of loads that no orchestrator ran (the `meterhouse` command)."""


def os_user() -> str | None:
    """The OS user this process runs as (None when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)
