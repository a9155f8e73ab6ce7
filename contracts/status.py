"""Status values shared by the ledger, the reports and the CLI."""

from __future__ import annotations

from enum import StrEnum


class SourceStatus(StrEnum):
    """What became of one source object, as the ingest ledger and the run reports record it."""

    LOADED = "loaded"
    """Parsed, validated and stored (rows may still have been rejected one by one)."""
    EMPTY = "empty"
    """The object held no records."""
    FAILED = "failed"
    """A terminal problem with the file (format, contract, threshold): fix it, then re-run."""
    ERROR = "error"
    """A retryable problem (throttling, a lock, the store): re-running loads it."""
    RETRACTED = "retracted"
    """Its rows were removed on purpose (`meterhouse retract`); loaded again only if it changes
    or is reprocessed."""
    UNCHANGED = "unchanged"
    """Already loaded with the same content; nothing to do (reports only, never in the ledger)."""


OK_STATUSES: frozenset[SourceStatus] = frozenset(
    {SourceStatus.LOADED, SourceStatus.EMPTY, SourceStatus.UNCHANGED}
)
"""Statuses that are not a failure of the run."""
