"""S3 mode: batches written straight to the landing prefix as NDJSON.gz objects.

Needs boto3 (``pip install meterhouse-client[s3]``); imported only when S3 mode is used.
"""

from __future__ import annotations

import gzip
import logging
from datetime import UTC, datetime
from typing import Any

from meterhouse_client.errors import DeliveryError
from meterhouse_client.record import records_ndjson
from meterhouse_client.transport import RETRYABLE_STATUSES, Batch

log = logging.getLogger("meterhouse_client")

# S3 error codes a later attempt can succeed on (throttling and transient server faults).
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
     "ThrottlingException", "RequestTimeTooSkewed"}
)  # fmt: skip


class S3Transport:
    """PUT each batch as ``{prefix}sdk/dt=YYYY-MM-DD/{client_id}-{sequence:08d}.ndjson.gz``.

    The key is fixed by the batch (its creation date, the client's id and its sequence), so
    a retried PUT overwrites the same object instead of adding a second one.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "ingest/",
        *,
        client_id: str,
        s3_client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not bucket:
            raise ValueError("bucket must be a bucket name")
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client_id = client_id
        if s3_client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise ImportError(
                    "S3 mode needs boto3: pip install 'meterhouse-client[s3]'"
                ) from exc
            # One attempt per call: the client's own loop retries with backoff and spools.
            config = Config(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"max_attempts": 1, "mode": "standard"},
            )
            s3_client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region_name, config=config
            )
        self._s3 = s3_client

    @property
    def destination(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def key_for(self, batch: Batch) -> str:
        """The object key of a batch; the same for every attempt at it."""
        day = datetime.fromtimestamp(batch.created_ms / 1000, tz=UTC).date().isoformat()
        return f"{self._prefix}sdk/dt={day}/{self._client_id}-{batch.sequence:08d}.ndjson.gz"

    def send(self, batch: Batch) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_for(batch)
        body = gzip.compress(records_ndjson(batch.records), compresslevel=5)
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(error.get("Code", ""))
            retryable = code in _RETRYABLE_CODES or status in RETRYABLE_STATUSES
            raise DeliveryError(
                f"PUT s3://{self._bucket}/{key} failed: {code} {error.get('Message', '')}",
                status=status if isinstance(status, int) else None,
                retryable=retryable,
            ) from exc
        except BotoCoreError as exc:
            # Connection refused, timeouts, a dropped connection: the object may or may not be
            # there; the same key is written again, so a retry cannot duplicate it.
            raise DeliveryError(
                f"PUT s3://{self._bucket}/{key} failed: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc
        log.debug("put key=%s records=%d", key, len(batch.records))

    def close(self) -> None:
        return None
