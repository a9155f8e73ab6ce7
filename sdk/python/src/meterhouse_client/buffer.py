"""The bounded queue between `meter()` callers and the sender thread."""

from __future__ import annotations

import threading
import time
from collections import deque

from meterhouse_client.errors import ClientClosed, QueueFull
from meterhouse_client.record import MeterRecord


class RecordBuffer:
    """A bounded FIFO of records that hands out batches by count or by age.

    It counts what it accepted and what the sender resolved (delivered, spooled or
    dead-lettered), which is what `flush()` waits on.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_queue must be at least 1")
        self._max_size = max_size
        self._items: deque[tuple[MeterRecord, float]] = deque()
        self._cond = threading.Condition()
        self._accepted = 0
        self._resolved = 0
        self._flushing = 0
        self._closing = False

    def put(self, record: MeterRecord, timeout_s: float | None) -> None:
        """Queue a record; wait up to `timeout_s` (None: forever) for room, else `QueueFull`."""
        with self._cond:
            if self._closing:
                raise ClientClosed("the client is closed; create a new one to meter more")
            if len(self._items) >= self._max_size:
                deadline = None if timeout_s is None else time.monotonic() + timeout_s
                while len(self._items) >= self._max_size and not self._closing:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise QueueFull(
                            f"the queue holds {self._max_size} records and stayed full for "
                            f"{timeout_s} s (the destination is slow or down); the record "
                            "was not taken: retry, slow down, or raise max_queue"
                        )
                    self._cond.wait(remaining)
                if self._closing:
                    raise ClientClosed("the client closed while meter() waited for room")
            self._items.append((record, time.monotonic()))
            self._accepted += 1
            self._cond.notify_all()

    def take(self, batch_size: int, linger_s: float) -> list[MeterRecord]:
        """Up to `batch_size` records, once there are that many, the oldest waited `linger_s`,
        a flush is asked for or the buffer closes. Empty only when closed and drained."""
        with self._cond:
            while True:
                if self._items:
                    waited = time.monotonic() - self._items[0][1]
                    if (
                        len(self._items) >= batch_size
                        or waited >= linger_s
                        or self._flushing
                        or self._closing
                    ):
                        count = min(batch_size, len(self._items))
                        batch = [self._items.popleft()[0] for _ in range(count)]
                        self._cond.notify_all()  # room for blocked meter() calls
                        return batch
                    self._cond.wait(linger_s - waited)
                elif self._closing:
                    return []
                else:
                    self._cond.wait()

    def drain(self) -> list[MeterRecord]:
        """Everything still queued (for the spool when the client gives up waiting)."""
        with self._cond:
            batch = [record for record, _ in self._items]
            self._items.clear()
            self._cond.notify_all()
            return batch

    def resolved(self, count: int) -> None:
        """The sender is done with `count` taken records (sent, spooled or dead-lettered)."""
        with self._cond:
            self._resolved += count
            self._cond.notify_all()

    def flush(self, timeout_s: float | None) -> bool:
        """Wait until every record accepted before the call is resolved; False on timeout."""
        with self._cond:
            target = self._accepted
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._resolved >= target, timeout_s)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Refuse new records; the sender drains what is queued and stops."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    @property
    def accepted(self) -> int:
        """Records taken by `put` so far."""
        with self._cond:
            return self._accepted

    @property
    def queued(self) -> int:
        """Records waiting to be taken."""
        with self._cond:
            return len(self._items)
