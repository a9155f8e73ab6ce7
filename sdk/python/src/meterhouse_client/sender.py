"""The sender thread: batches from the buffer to the transport, with retries, 413 splits,
dead letters for rejected records, the spool for everything else, and the spool's replay."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meterhouse_client.buffer import RecordBuffer
from meterhouse_client.errors import (
    BatchRejected,
    BatchTooLarge,
    DeliveryError,
    MeterhouseError,
    SpoolError,
)
from meterhouse_client.record import MeterRecord
from meterhouse_client.spool import Spool
from meterhouse_client.transport import Batch, Transport

log = logging.getLogger("meterhouse_client")

ErrorCallback = Callable[[MeterhouseError, list[MeterRecord]], None]


@dataclass(frozen=True)
class SendPolicy:
    """How batches are formed and retried (see `MeterhouseClient` for each option)."""

    batch_size: int = 500
    flush_interval_s: float = 0.5
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0


class Sender:
    """Runs in one thread; the only user of the transport. Counts what happened to records."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool,
        buffer: RecordBuffer,
        policy: SendPolicy,
        on_error: ErrorCallback | None,
    ) -> None:
        self._transport = transport
        self._spool = spool
        self._buffer = buffer
        self._policy = policy
        self._on_error = on_error
        self._abort = threading.Event()
        self._stats_lock = threading.Lock()
        self._counts = {"sent": 0, "spooled": 0, "dead_lettered": 0, "replayed": 0}
        self._sequence = 0
        self.in_flight: list[MeterRecord] = []

    def abort(self) -> None:
        """Stop retrying: spool the batch in hand and everything still queued."""
        self._abort.set()

    def counts(self) -> dict[str, int]:
        """sent, spooled, dead_lettered, replayed."""
        with self._stats_lock:
            return dict(self._counts)

    def run(self) -> None:
        """The thread's loop: replay the spool, then send batches until the buffer closes."""
        try:
            self._replay_spool()
        except Exception:  # the sender must keep serving meter() whatever replay met
            log.exception("spool replay failed; the files stay for the next client")
        while True:
            records = self._buffer.take(self._policy.batch_size, self._policy.flush_interval_s)
            if not records:
                return
            self.in_flight = records
            try:
                try:
                    undelivered = self._deliver(records)
                except Exception:
                    log.exception(
                        "unexpected error sending records=%d; spooling them", len(records)
                    )
                    undelivered = records
                self.spool_records(undelivered, "not delivered")
            except OSError as exc:
                # The spool itself failed (disk full, permissions): the one loss left, and a loud one.
                log.critical("could not spool records=%d: they are lost: %s", len(undelivered), exc)
                self._notify(SpoolError(f"could not spool records: {exc}"), undelivered)
            finally:
                self.in_flight = []
                self._buffer.resolved(len(records))

    def _replay_spool(self) -> None:
        for claimed in self._spool.claim_pending():
            log.info("replaying spool file=%s records=%d", claimed.path, len(claimed.records))
            try:
                undelivered: list[MeterRecord] = []
                records = claimed.records
                for start in range(0, len(records), self._policy.batch_size):
                    chunk = records[start : start + self._policy.batch_size]
                    undelivered = self._deliver(chunk)
                    if undelivered:  # still down: keep the rest, try again at the next start
                        undelivered += records[start + self._policy.batch_size :]
                        break
                    self._count("replayed", len(chunk))
                # Delete the file only once every record is acknowledged or spooled again.
                self.spool_records(undelivered, f"replay of {claimed.path.name} incomplete")
                self._spool.release(claimed, delete=True)
            except BaseException:
                self._spool.release(claimed, delete=False)
                raise
            if undelivered:
                return

    def _deliver(self, records: list[MeterRecord]) -> list[MeterRecord]:
        """Send records (retrying, splitting on 413, dead-lettering what the gateway names as
        bad); return the records that must be spooled."""
        if self._abort.is_set():
            return records
        self._sequence += 1
        batch = Batch(records, self._sequence, time.time_ns() // 1_000_000)
        attempt = 0
        while True:
            try:
                self._transport.send(batch)
            except BatchTooLarge as exc:
                if len(records) == 1:
                    self._dead_letter(exc, records, [{"status": 413, "reason": str(exc)}])
                    return []
                half = len(records) // 2
                log.info("batch too large records=%d; splitting in two", len(records))
                return self._deliver(records[:half]) + self._deliver(records[half:])
            except BatchRejected as exc:
                return self._rejected(exc, records)
            except DeliveryError as exc:
                if not exc.retryable:
                    log.error("not retryable status=%s error=%s", exc.status, exc)
                    self._notify(exc, records)
                    return records
                attempt += 1
                if attempt > self._policy.max_retries:
                    log.error("retries exhausted attempts=%d error=%s", attempt, exc)
                    self._notify(exc, records)
                    return records
                delay = self._backoff_s(attempt, exc.retry_after_s)
                log.warning(
                    "send failed attempt=%d retry_in_s=%.3f records=%d error=%s",
                    attempt, delay, len(records), exc,
                )  # fmt: skip
                if self._abort.wait(delay):
                    return records
            else:
                self._count("sent", len(records))
                return []

    def _rejected(self, exc: BatchRejected, records: list[MeterRecord]) -> list[MeterRecord]:
        # All or nothing: none of the batch was stored. Keep the records the problem names
        # as dead letters and send the others again; if it names none, all are suspect.
        named = {i: e for i, e in exc.bad_indexes.items() if 0 <= i < len(records)}
        if not named:
            problem = {"status": exc.status, **exc.problem}
            self._dead_letter(exc, records, [problem] * len(records))
            return []
        bad = sorted(named)
        self._dead_letter(exc, [records[i] for i in bad], [named[i] for i in bad])
        good = [r for i, r in enumerate(records) if i not in named]
        return self._deliver(good) if good else []

    def _backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**n)).
        ceiling = min(self._policy.backoff_max_s, self._policy.backoff_base_s * 2 ** (attempt - 1))
        delay = random.uniform(0.0, ceiling)  # noqa: S311 (jitter, not a secret)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self._policy.max_retry_after_s))
        return delay

    def spool_records(self, records: list[MeterRecord], reason: str) -> None:
        if records:
            self._spool.append(records, reason)
            self._count("spooled", len(records))

    def _dead_letter(
        self, exc: MeterhouseError, records: list[MeterRecord], errors: list[dict[str, Any]]
    ) -> None:
        self._spool.dead_letter(records, errors)
        self._count("dead_lettered", len(records))
        self._notify(exc, records)

    def _notify(self, exc: MeterhouseError, records: list[MeterRecord]) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(exc, records)
        except Exception:
            log.exception("on_error callback raised")

    def _count(self, name: str, count: int) -> None:
        with self._stats_lock:
            self._counts[name] += count
