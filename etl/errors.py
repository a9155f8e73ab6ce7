"""One small error hierarchy: retryable (try again later) vs terminal (fix the input)."""

from __future__ import annotations


class MeterhouseError(Exception):
    """Base of every error meterhouse raises on purpose."""


class RetryableError(MeterhouseError):
    """A transient condition (throttling, a lock held by another writer): retrying may succeed."""


class TerminalError(MeterhouseError):
    """The input or configuration is wrong: retrying the same thing fails the same way."""


class FormatError(TerminalError):
    """A source object cannot be read as any supported format."""


class ContractViolation(TerminalError):
    """Data breaks a contract (a missing mandatory column, a file over the reject threshold)."""


class SourceChanged(RetryableError):
    """The object changed or vanished between listing and reading it."""


class IngestFailed(TerminalError):
    """Some files of a run failed; each is in the ledger with its reason."""


class ParseFailed(TerminalError):
    """Reading one file raised something no parser rule names (a reader's own error, a
    recursion limit, a library panic): that file fails with the exception named, the run goes on."""
