"""Where acknowledged records go: objects under the landing prefix of an S3 API.

The client is tuned for answering a waiting HTTP request: short timeouts and few retries, so
an unreachable S3 turns into a 503 with Retry-After within seconds instead of a hung request.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from etl.gateway.batch_rules import S3Config, split_s3_uri


class ObjectWriter(Protocol):
    """What the group committer needs from a store."""

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None: ...

    def ready(self) -> str | None:
        """None when the store is reachable, else what is wrong."""
        ...


class S3Writer:
    """One bucket of an S3 API (endpoint and region from AWS_* variables, boto3's credentials)."""

    def __init__(
        self,
        landing: str,
        *,
        timeout_s: float = 10.0,
        connections: int = 10,
        config: S3Config | None = None,
    ) -> None:
        self.bucket, prefix = split_s3_uri(landing)
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self._config = config or S3Config.from_env()
        self._timeout_s = timeout_s
        self._connections = connections
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, built once (about half a second) by the first caller."""
        if self._client is not None:
            return self._client
        with self._client_lock:
            if self._client is not None:
                return self._client
            self._client = self._config.client(
                max_attempts=2,
                retry_mode="standard",
                connect_timeout_s=self._timeout_s,
                read_timeout_s=self._timeout_s,
                max_pool_connections=self._connections,
            )
        return self._client

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType="application/gzip",
            Metadata=metadata,
        )

    def ready(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            return f"s3://{self.bucket}: {exc}"
        return None
