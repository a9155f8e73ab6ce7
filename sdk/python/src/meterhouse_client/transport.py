"""Where batches go: the gateway over HTTP (stdlib http.client), or S3 (see `s3.py`).

A transport sends one batch once and says how it failed; retrying, splitting and spooling
are the client's (`client.py`).
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from meterhouse_client._version import __version__
from meterhouse_client.errors import BatchRejected, BatchTooLarge, DeliveryError
from meterhouse_client.record import MeterRecord, records_body

log = logging.getLogger("meterhouse_client")

# Statuses a later attempt can succeed on; 429 and 503 usually carry Retry-After.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# The records themselves are wrong (the body names them): resending cannot help.
REJECTED_STATUSES = frozenset({400, 422})


@dataclass(frozen=True)
class Batch:
    """Records sent together. `sequence` and `created_ms` are fixed when the batch is formed,
    so a retry of it is the same request (S3 mode: the same object key)."""

    records: list[MeterRecord]
    sequence: int
    created_ms: int


class Transport(Protocol):
    """Sends one batch, once. Raises `DeliveryError` (or a subclass) when it was not stored."""

    @property
    def destination(self) -> str:
        """Where batches go, e.g. the endpoint URL; names the default spool directory."""
        ...

    def send(self, batch: Batch) -> None:
        """Store the batch, or raise `DeliveryError`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HttpTransport:
    """POST {endpoint}/ingest with X-API-KEY, a JSON array body, gzip-compressed by default.

    One keep-alive connection, used by the client's single sender thread only.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        gzip_body: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint {endpoint!r} must be an http:// or https:// URL")
        self._endpoint = endpoint.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/ingest"
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._gzip = gzip_body
        self._ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None

    @property
    def destination(self) -> str:
        return self._endpoint

    def send(self, batch: Batch) -> None:
        body = records_body(batch.records)
        headers = {
            "X-API-KEY": self._api_key,
            "Content-Type": "application/json",
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"meterhouse-client/{__version__}",
        }
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        status, response_headers, payload = self._post(body, headers)
        if 200 <= status < 300:
            stored = _json_or_none(payload)
            log.debug("sent batch=%d records=%d stored=%s", batch.sequence, len(batch.records),
                      stored.get("stored") if isinstance(stored, dict) else None)  # fmt: skip
            return
        detail = _detail(payload)
        message = f"POST {self._endpoint}/ingest answered {status}: {detail}"
        if status == 413:
            raise BatchTooLarge(message)
        if status in REJECTED_STATUSES:
            problem = _json_or_none(payload)
            raise BatchRejected(
                message, status=status, problem=problem if isinstance(problem, dict) else {}
            )
        raise DeliveryError(
            message,
            status=status,
            retryable=status in RETRYABLE_STATUSES,
            retry_after_s=parse_retry_after(response_headers.get("retry-after")),
        )

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            response_headers = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                self.close()
            return response.status, response_headers, payload
        except (OSError, http.client.HTTPException) as exc:
            # Timeouts included: the gateway may have stored the batch; resending it is safe
            # because every record keeps its uniqueId.
            self.close()
            kind = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else "failed"
            raise DeliveryError(
                f"POST {self._endpoint}/ingest {kind}: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout_s, context=self._ssl_context
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return None


def _detail(payload: bytes) -> str:
    parsed = _json_or_none(payload)
    if isinstance(parsed, dict):
        for key in ("detail", "title", "message"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])[:300]
    return payload[:300].decode("utf-8", errors="replace") or "(empty body)"
