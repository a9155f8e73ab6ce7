"""Group commit: requests that arrive close together share one S3 object.

A request hands the committer its records as one gzip member (compressed by the request
itself, in parallel with the others); a group is the concatenation of members, which is one
valid gzip stream of NDJSON. A group is written as soon as no request in the gateway is still
on its way to it (every request being read or checked has joined it or been answered: waiting
longer could only delay the answers), when its first member has waited `linger_s` (under steady
traffic, requests keep coming), or when it reaches the size cap; and only while fewer than
`max_puts` writes are under way: when S3 is slow, groups grow instead of queueing writes. Every request of a group learns the
outcome of that one PUT: stored (the request is acknowledged) or not (503, nothing of it is
acknowledged; a retry may store it again, which the uniqueIds make harmless).

Keys: `<prefix>dt=<UTC day>/<gateway-id>-<boot>-<sequence>.ndjson.gz` under the landing prefix
(`api/` for /ingest, `prometheus/` for remote write: one committer per way in). `boot` is
random per process start, so a restarted gateway never overwrites an object.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from etl.gateway.metrics import GatewayMetrics
from etl.gateway.store import ObjectWriter

log = logging.getLogger("meterhouse.gateway")

API_PREFIX = "api/"


class StoreUnavailable(Exception):
    """The group holding a request could not be written: nothing of it is acknowledged."""


@dataclass
class _Member:
    data: bytes
    records: int
    arrived: float
    future: asyncio.Future[str] = field(repr=False)


@dataclass
class Arrival:
    """A request on its way to the committer (see `GroupCommitter.incoming`)."""

    joined: bool = False


def _consume(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()


def object_key(instance: str, sequence: int, day: str, prefix: str = API_PREFIX) -> str:
    """Where a group lands, relative to the landing prefix."""
    return f"{prefix}dt={day}/{instance}-{sequence:010d}.ndjson.gz"


class GroupCommitter:
    """Collects members on the event loop and writes them in groups from a thread pool."""

    def __init__(
        self,
        writer: ObjectWriter,
        *,
        gateway_id: str,
        linger_s: float,
        group_bytes: int,
        group_records: int,
        max_puts: int,
        metrics: GatewayMetrics,
        prefix: str = API_PREFIX,
    ) -> None:
        self.writer = writer
        self.prefix = prefix
        self.instance = f"{gateway_id}-{secrets.token_hex(4)}"
        self.linger_s = linger_s
        self.group_bytes = group_bytes
        self.group_records = group_records
        self.max_puts = max_puts
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_puts, thread_name_prefix="gateway-put")
        self._pending: deque[_Member] = deque()
        self._pending_bytes = 0
        self._pending_records = 0
        self._busy = 0
        self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.Handle | None = None
        self._incoming = 0
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def incoming(self) -> Iterator[Arrival]:
        """Count a request as on its way from when it is read until it joins a group (pass
        the arrival to `commit`) or is answered otherwise; a group is not held for it after."""
        arrival = Arrival()
        self._incoming += 1
        try:
            yield arrival
        finally:
            if not arrival.joined:
                self._incoming -= 1
                self._kick_soon()

    async def commit(self, data: bytes, records: int, arrival: Arrival | None = None) -> str:
        """Wait until `data` (a gzip member of NDJSON lines) is in S3; returns the object key.

        Raises StoreUnavailable when its group's write failed.
        """
        loop = asyncio.get_running_loop()
        member = _Member(data, records, time.monotonic(), loop.create_future())
        # The outcome is read here even when the request was cancelled meanwhile.
        member.future.add_done_callback(_consume)
        self._pending.append(member)
        self._pending_bytes += len(data)
        self._pending_records += records
        if arrival is not None and not arrival.joined:
            arrival.joined = True
            self._incoming -= 1
        self._idle.clear()
        self._kick_soon()
        # Shielded: a client that hangs up does not take its records out of a group that is
        # being written; it simply never hears the answer (its retry is deduplicated).
        return await asyncio.shield(member.future)

    async def close(self) -> None:
        """Write everything pending now and wait for every write under way."""
        self._closing = True
        self._kick()
        await self._idle.wait()
        self._executor.shutdown(wait=True)

    def _due(self) -> bool:
        if self._closing or self._pending_bytes >= self.group_bytes:
            return True
        if self._pending_records >= self.group_records or self._incoming == 0:
            return True
        return time.monotonic() - self._pending[0].arrived >= self.linger_s

    def _kick_soon(self) -> None:
        # Once the callbacks already due have run: requests resumed together (one check pass)
        # join before the group is judged.
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_soon(self._on_soon)

    def _on_soon(self) -> None:
        self._soon = None
        self._kick()

    def _kick(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and self._busy < self.max_puts:
            if not self._due():
                if self._timer is None:
                    wait = self._pending[0].arrived + self.linger_s - time.monotonic()
                    self._timer = loop.call_later(max(wait, 0.0), self._on_timer)
                return
            group = self._take()
            self._busy += 1
            self._sequence += 1
            loop.create_task(self._write(self._sequence, group))
        if not self._pending and self._busy == 0:
            self._idle.set()

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    def _take(self) -> list[_Member]:
        group: list[_Member] = []
        size = records = 0
        while self._pending:
            nxt = self._pending[0]
            if group and (
                size + len(nxt.data) > self.group_bytes
                or records + nxt.records > self.group_records
            ):
                break
            group.append(self._pending.popleft())
            size += len(nxt.data)
            records += nxt.records
        self._pending_bytes -= size
        self._pending_records -= records
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return group

    async def _write(self, sequence: int, group: list[_Member]) -> None:
        loop = asyncio.get_running_loop()
        day = datetime.now(tz=UTC).date().isoformat()
        key = object_key(self.instance, sequence, day, self.prefix)
        records = sum(m.records for m in group)
        metadata = {"records": str(records), "requests": str(len(group)), "gateway": self.instance}
        started = time.monotonic()
        try:
            body = b"".join(m.data for m in group)
            await loop.run_in_executor(self._executor, self.writer.put, key, body, metadata)
        except Exception as exc:  # any S3 or network failure: none of the group is acknowledged
            self.metrics.s3_errors.labels("put").inc()
            log.warning(
                "step=flush key=%s requests=%d records=%d error=%s", key, len(group), records, exc
            )
            failure = StoreUnavailable(f"writing the batch to S3 failed: {type(exc).__name__}")
            for m in group:
                if not m.future.done():
                    m.future.set_exception(failure)
        else:
            elapsed = time.monotonic() - started
            self.metrics.flush_seconds.observe(elapsed)
            self.metrics.objects_written.inc()
            self.metrics.group_records.observe(records)
            self.metrics.group_requests.observe(len(group))
            log.info(
                "step=flush key=%s requests=%d records=%d bytes=%d seconds=%.3f",
                key, len(group), records, len(body), elapsed,
            )  # fmt: skip
            for m in group:
                if not m.future.done():
                    m.future.set_result(key)
        finally:
            self._busy -= 1
            self._kick()
