"""The client's errors: one small hierarchy, all under `MeterhouseError`."""

from __future__ import annotations

from typing import Any


class MeterhouseError(Exception):
    """Base of every error this package raises."""


class InvalidRecord(MeterhouseError, ValueError):
    """A record breaks one of the batch path's rules; `rule` is the rule's name
    (e.g. ``amberflo.meterValue.precision``), `reason` says what is wrong and what to do."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


class QueueFull(MeterhouseError):
    """The bounded in-memory queue stayed full for `queue_timeout_s`; the record was not taken
    (nothing is dropped silently: the caller still holds it)."""


class ClientClosed(MeterhouseError):
    """`meter()` after `close()`."""


class SpoolError(MeterhouseError):
    """Undelivered records could not be written to the spool (disk full, permissions)."""


class DeliveryError(MeterhouseError):
    """A batch could not be delivered now. `retryable` tells whether sending it again later
    can succeed; `retry_after_s` is the server's Retry-After, when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class BatchTooLarge(DeliveryError):
    """413: the gateway refuses the body's size; the client splits the batch."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=413, retryable=False)


class BatchRejected(DeliveryError):
    """400: the gateway found bad records (all or nothing: none of the batch was stored).
    `problem` is the RFC 7807 body; `bad_indexes` the positions it named."""

    def __init__(self, message: str, *, status: int, problem: dict[str, Any]) -> None:
        super().__init__(message, status=status, retryable=False)
        self.problem = problem

    @property
    def bad_indexes(self) -> dict[int, dict[str, Any]]:
        """Index -> error entry ({"index", "rule", "reason"}) for each record the body names."""
        found: dict[int, dict[str, Any]] = {}
        errors = self.problem.get("errors")
        if isinstance(errors, list):
            for entry in errors:
                if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                    found[entry["index"]] = entry
        return found
