"""The metering clients: `meter()` checks and queues; one sender thread batches, retries,
splits, spools and replays."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

from meterhouse_client.buffer import RecordBuffer
from meterhouse_client.record import MeterRecord
from meterhouse_client.sender import ErrorCallback, Sender, SendPolicy
from meterhouse_client.spool import Spool
from meterhouse_client.transport import HttpTransport, Transport

log = logging.getLogger("meterhouse_client")


class ClientOptions(TypedDict, total=False):
    """The options every client takes (see `MeterhouseClient`)."""

    batch_size: int
    flush_interval_s: float
    max_queue: int
    queue_timeout_s: float | None
    spool_dir: str | Path | None
    max_retries: int
    timeout_s: float
    backoff_base_s: float
    backoff_max_s: float
    max_retry_after_s: float
    close_timeout_s: float
    exit_timeout_s: float
    on_error: ErrorCallback | None


@dataclass(frozen=True)
class ClientStats:
    """Counts since the client started (records)."""

    accepted: int
    sent: int
    spooled: int
    dead_lettered: int
    replayed: int
    queued: int


def default_spool_dir(destination: str) -> Path:
    """``~/.cache/meterhouse-client/<hash of the destination>`` (XDG_CACHE_HOME honoured)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(destination.encode()).hexdigest()[:16]
    return Path(cache) / "meterhouse-client" / digest


class MeterhouseClient:
    """Meters usage to the meterhouse gateway (``POST {endpoint}/ingest``).

    `meter()` checks a record with the batch path's rules and queues it; a background thread
    sends batches of `batch_size` records, or whatever waited `flush_interval_s`. Failed
    sends are retried (429, 5xx, connection errors, timeouts) with exponential backoff and
    full jitter, honouring Retry-After; what cannot be delivered goes to an fsynced spool in
    `spool_dir` that the next client with the same spool directory replays. `close()`, the
    context manager and interpreter exit flush.

    Options: `max_queue` records are held in memory; a full queue blocks `meter()` up to
    `queue_timeout_s` (None: without limit, 0: not at all) and then raises `QueueFull`.
    `max_retries` retries per batch, `timeout_s` per request, backoff from `backoff_base_s`
    doubling up to `backoff_max_s`, a Retry-After honoured up to `max_retry_after_s`.
    `close_timeout_s` bounds `close()`, `exit_timeout_s` the flush at interpreter exit;
    records still unsent then are spooled. `on_error(error, records)` is called, from the sender thread, for records that
    were not delivered (rejected by the gateway, refused credentials, retries exhausted).
    `transport` replaces the HTTP transport (then `endpoint` and `api_key` are not used).
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        max_queue: int = 100_000,
        queue_timeout_s: float | None = 10.0,
        spool_dir: str | Path | None = None,
        max_retries: int = 6,
        timeout_s: float = 10.0,
        gzip: bool = True,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        close_timeout_s: float = 30.0,
        exit_timeout_s: float = 5.0,
        on_error: ErrorCallback | None = None,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            transport = HttpTransport(endpoint, api_key, timeout_s=timeout_s, gzip_body=gzip)
        self._start(
            transport,
            uuid.uuid4().hex,
            ClientOptions(
                batch_size=batch_size,
                flush_interval_s=flush_interval_s,
                max_queue=max_queue,
                queue_timeout_s=queue_timeout_s,
                spool_dir=spool_dir,
                max_retries=max_retries,
                timeout_s=timeout_s,
                backoff_base_s=backoff_base_s,
                backoff_max_s=backoff_max_s,
                max_retry_after_s=max_retry_after_s,
                close_timeout_s=close_timeout_s,
                exit_timeout_s=exit_timeout_s,
                on_error=on_error,
            ),
        )

    def _start(self, transport: Transport, client_id: str, options: ClientOptions) -> None:
        self.client_id = client_id
        self._transport = transport
        self._queue_timeout_s = options.get("queue_timeout_s", 10.0)
        self._timeout_s = options.get("timeout_s", 10.0)
        self._close_timeout_s = options.get("close_timeout_s", 30.0)
        self._exit_timeout_s = options.get("exit_timeout_s", 5.0)
        policy = SendPolicy(
            batch_size=options.get("batch_size", 500),
            flush_interval_s=options.get("flush_interval_s", 0.5),
            max_retries=options.get("max_retries", 6),
            backoff_base_s=options.get("backoff_base_s", 0.5),
            backoff_max_s=options.get("backoff_max_s", 30.0),
            max_retry_after_s=options.get("max_retry_after_s", 120.0),
        )
        if policy.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        spool_dir = options.get("spool_dir")
        directory = (
            Path(spool_dir).expanduser()
            if spool_dir is not None
            else default_spool_dir(transport.destination)
        )
        self._spool = Spool(directory, client_id)
        self._buffer = RecordBuffer(options.get("max_queue", 100_000))
        self._sender = Sender(transport, self._spool, self._buffer, policy, options.get("on_error"))
        self._closed = False
        self._close_lock = threading.Lock()
        # A daemon thread: Python joins non-daemon threads before atexit hooks run, so a
        # non-daemon sender would keep the process alive and the exit flush would never run.
        self._thread = threading.Thread(
            target=self._sender.run, name=f"meterhouse-client-{client_id[:8]}", daemon=True
        )
        _LIVE_CLIENTS.add(self)
        self._thread.start()
        log.info(
            "client started client_id=%s destination=%s spool=%s",
            client_id, transport.destination, directory,
        )  # fmt: skip

    def meter(
        self,
        meter_api_name: str,
        meter_value: int | Decimal | str | float,
        customer_id: str,
        meter_time_in_millis: int | None = None,
        dimensions: dict[str, Any] | None = None,
        unique_id: str | None = None,
    ) -> MeterRecord:
        """Check one record with the batch path's rules and queue it.

        Raises `InvalidRecord` (its `rule` names the rule broken), `QueueFull` when the queue
        stays full for `queue_timeout_s`, `ClientClosed` after `close()`. The record's
        uniqueId (a uuid4 unless given) is fixed here; the returned record carries it.
        """
        record = MeterRecord.create(
            meter_api_name,
            meter_value,
            customer_id,
            meter_time_in_millis,
            dimensions,
            unique_id,
        )
        self._buffer.put(record, self._queue_timeout_s)
        return record

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything metered so far now; wait until it is delivered, spooled or
        dead-lettered. False when `timeout` (seconds) passed first."""
        return self._buffer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop. After `timeout` (default `close_timeout_s`) records still unsent
        are spooled for the next client. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        _LIVE_CLIENTS.discard(self)
        if threading.current_thread() is self._thread:  # close() from an on_error callback
            self._buffer.close()
            return
        wait_s = self._close_timeout_s if timeout is None else timeout
        self._buffer.close()
        self._thread.join(wait_s)
        if self._thread.is_alive():
            log.warning("close timed out after %.1f s; spooling what is unsent", wait_s)
            self._sender.abort()
            # A request in flight ends within its timeout; the sender then spools the rest.
            self._thread.join(self._timeout_s + 1.0)
        if self._thread.is_alive():
            # Stuck past its own timeout: keep what it holds too. Anything both sent and
            # spooled replays with the same uniqueIds, which the warehouse keeps once.
            leftover = list(self._sender.in_flight) + self._buffer.drain()
            self._sender.spool_records(leftover, "sender did not stop")
        self._transport.close()
        self._spool.close()
        log.info("client closed client_id=%s stats=%s", self.client_id, self.stats())

    def stats(self) -> ClientStats:
        """What happened to the records so far."""
        counts = self._sender.counts()
        return ClientStats(
            accepted=self._buffer.accepted,
            sent=counts["sent"],
            spooled=counts["spooled"],
            dead_lettered=counts["dead_lettered"],
            replayed=counts["replayed"],
            queued=self._buffer.queued,
        )

    @property
    def spool_dir(self) -> Path:
        """The directory undelivered records are kept in."""
        return self._spool.directory

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MeterhouseS3Client(MeterhouseClient):
    """Meters usage straight into the S3 landing prefix, one NDJSON.gz object per batch at
    ``{prefix}sdk/dt=YYYY-MM-DD/{client_id}-{sequence}.ndjson.gz`` (needs boto3:
    ``pip install 'meterhouse-client[s3]'``). Same options and guarantees as
    `MeterhouseClient`; `s3_client` is a boto3 S3 client to use instead of a new one."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "ingest/",
        *,
        s3_client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        from meterhouse_client.s3 import S3Transport

        client_id = uuid.uuid4().hex
        transport = S3Transport(
            bucket,
            prefix,
            client_id=client_id,
            s3_client=s3_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            timeout_s=options.get("timeout_s", 10.0),
        )
        self._start(transport, client_id, options)


# Clients not closed yet; closed (so flushed or spooled) by one atexit hook. Strong references
# on purpose: a client dropped without close() must still be flushed at exit.
_LIVE_CLIENTS: set[MeterhouseClient] = set()


@atexit.register
def _close_at_exit() -> None:
    for client in list(_LIVE_CLIENTS):
        try:
            client.close(client._exit_timeout_s)
        except Exception:
            log.exception("closing client_id=%s at exit failed", client.client_id)
