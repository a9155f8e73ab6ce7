"""Object-store access behind one small interface: S3 (any S3 API) and a local folder."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from etl.errors import FormatError, RetryableError, SourceChanged, TerminalError
from etl.settings import s3_from_env

# Objects under this prefix are meterhouse's own reports, never input.
FAILED_REQUESTS_PREFIX = "failed-requests/"
# Whole reads of one object (request + body) before a dropped body counts as a retryable error.
BODY_READ_ATTEMPTS = 4
BODY_READ_BACKOFF_S = 0.25
STREAM_BLOCK = 8 * 1024 * 1024

log = logging.getLogger("meterhouse.storage")


@dataclass(frozen=True)
class ObjectInfo:
    """One source object as listed: its identity plus what tells us it changed."""

    uri: str
    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class S3Config:
    """How to reach an S3 API. Never hard-coded: from the environment or an Airflow connection."""

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str | None = None

    @classmethod
    def from_env(cls) -> S3Config:
        """Standard AWS variables: AWS_ENDPOINT_URL(_S3), AWS_ACCESS_KEY_ID, ... (boto3's chain)."""
        env = s3_from_env()
        return cls(endpoint_url=env.endpoint_url, region=env.region)

    def client(
        self,
        *,
        max_attempts: int = 8,
        retry_mode: str = "adaptive",
        connect_timeout_s: float = 10,
        read_timeout_s: float = 120,
        max_pool_connections: int = 10,
    ) -> Any:
        """A boto3 S3 client with retries for throttling and dropped connections (batch loads
        wait out a slow S3; the gateway asks for short timeouts and few attempts)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=self.region or "us-east-1",
            config=Config(
                retries={"max_attempts": max_attempts, "mode": retry_mode},
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
                max_pool_connections=max_pool_connections,
            ),
        )


class ObjectStore(Protocol):
    """What the pipeline needs from a place where exports land."""

    @property
    def root_uri(self) -> str:
        """Where the store's keys live: `s3://bucket` or a local folder (etl.sources.discovery
        opens the store again from it)."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def read(self, info: ObjectInfo) -> bytes: ...

    def read_into(self, info: ObjectInfo, sink: BinaryIO) -> None: ...

    def open_file(self, info: ObjectInfo, spool_dir: Path | None) -> BinaryIO:
        """A seekable file of the object's bytes, never held in memory; the caller closes it.

        A local file is opened in place; an object is downloaded into a temporary file in
        `spool_dir` (None: the system's temporary folder) first.
        """
        ...

    def write(self, key: str, data: bytes) -> str: ...


def _check_size(info: ObjectInfo, read: int) -> None:
    if read != info.size:
        raise SourceChanged(
            f"{info.uri} changed size while being read ({info.size} -> {read} bytes)"
        )


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`)."""
    if not uri.startswith("s3://"):
        raise TerminalError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise TerminalError(f"S3 URI without a bucket: {uri!r}; write it as s3://bucket/prefix")
    return bucket, key


class S3Store:
    """One bucket of an S3 API."""

    def __init__(self, bucket: str, config: S3Config | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.config = config or S3Config.from_env()
        self._client = client

    @property
    def root_uri(self) -> str:
        """`s3://bucket`."""
        return f"s3://{self.bucket}"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.config.client()
        return self._client

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.endswith("/") or key.startswith(FAILED_REQUESTS_PREFIX):
                        continue
                    yield ObjectInfo(
                        uri=f"s3://{self.bucket}/{key}",
                        key=key,
                        size=int(obj["Size"]),
                        etag=str(obj.get("ETag", "")).strip('"'),
                        last_modified=obj["LastModified"].astimezone(UTC),
                    )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise TerminalError(
                    f"bucket {self.bucket!r} does not exist at {self.config.endpoint_url or 'AWS'}; "
                    "create it or fix the source URI"
                ) from exc
            raise RetryableError(
                f"listing s3://{self.bucket}/{prefix} failed: {code} {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise RetryableError(f"listing s3://{self.bucket}/{prefix} failed: {exc}") from exc

    def read(self, info: ObjectInfo) -> bytes:
        sink = io.BytesIO()
        self.read_into(info, sink)
        return sink.getvalue()

    def read_into(self, info: ObjectInfo, sink: BinaryIO) -> None:
        """Stream the listed version of the object into `sink` (from its start), block by block."""
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, BODY_READ_ATTEMPTS + 1):
            sink.seek(0)
            sink.truncate()
            try:
                # IfMatch pins the version we listed: a new upload during the read is detected,
                # never half-loaded.
                resp = self.client.get_object(Bucket=self.bucket, Key=info.key, IfMatch=info.etag)
                for block in resp["Body"].iter_chunks(STREAM_BLOCK):
                    sink.write(block)
                break
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("NoSuchKey", "404"):
                    raise SourceChanged(f"{info.uri} was deleted after it was listed") from exc
                if code in ("PreconditionFailed", "412"):
                    raise SourceChanged(
                        f"{info.uri} was replaced by a new upload while being read"
                    ) from exc
                raise RetryableError(f"reading {info.uri} failed: {code} {exc}") from exc
            except BotoCoreError as exc:
                # botocore retries the request (throttling, refused or reset connections) but
                # not the body: a connection dropped mid-body lands here, so read again.
                if attempt == BODY_READ_ATTEMPTS:
                    raise RetryableError(
                        f"reading {info.uri} failed after {attempt} attempts: {exc}"
                    ) from exc
                log.warning(
                    "step=read source=%s attempt=%d retrying_after=%.1fs error=%s",
                    info.uri,
                    attempt,
                    BODY_READ_BACKOFF_S * 2 ** (attempt - 1),
                    exc,
                )
                time.sleep(BODY_READ_BACKOFF_S * 2 ** (attempt - 1))
        _check_size(info, sink.tell())

    def open_file(self, info: ObjectInfo, spool_dir: Path | None) -> BinaryIO:
        """The object downloaded into a temporary file (deleted when closed)."""
        spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - the caller closes it
        try:
            self.read_into(info, spool)
        except BaseException:
            spool.close()
            raise
        return spool

    def write(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"


class LocalStore:
    """A folder on the local disk, laid out like a bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def root_uri(self) -> str:
        """The folder."""
        return str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        # Keys are data: `../` or absolute keys must never escape the root.
        if path != self.root and self.root not in path.parents:
            raise TerminalError(f"object key {key!r} escapes the store root {self.root}")
        return path

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            candidates: list[Path] = [base]
        elif base.is_dir():
            candidates = sorted(p for p in base.rglob("*") if p.is_file())
        else:
            candidates = sorted(
                p
                for p in self.root.rglob("*")
                if p.is_file() and str(p.relative_to(self.root)).startswith(prefix)
            )
        for path in candidates:
            key = path.relative_to(self.root).as_posix()
            if key.startswith(FAILED_REQUESTS_PREFIX) or any(
                part.startswith(".") for part in key.split("/")
            ):
                continue
            stat = path.stat()
            yield ObjectInfo(
                uri=str(path),
                key=key,
                size=stat.st_size,
                etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
                last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            )

    def read(self, info: ObjectInfo) -> bytes:
        sink = io.BytesIO()
        self.read_into(info, sink)
        return sink.getvalue()

    def open(self, info: ObjectInfo) -> BinaryIO:
        """The file itself, for reading in place (a local file needs no download)."""
        try:
            handle = open(self._path(info.key), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError as exc:
            raise SourceChanged(f"{info.uri} was deleted after it was listed") from exc
        _check_size(info, os.fstat(handle.fileno()).st_size)
        return handle

    def open_file(self, info: ObjectInfo, spool_dir: Path | None) -> BinaryIO:
        """The file itself (`open`): a local file needs no download."""
        return self.open(info)

    def read_into(self, info: ObjectInfo, sink: BinaryIO) -> None:
        sink.seek(0)
        sink.truncate()
        try:
            with open(self._path(info.key), "rb") as source:
                shutil.copyfileobj(source, sink, STREAM_BLOCK)
        except FileNotFoundError as exc:
            raise SourceChanged(f"{info.uri} was deleted after it was listed") from exc
        _check_size(info, sink.tell())

    def write(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return str(path)


def open_source(source: str, s3: S3Config | None = None) -> tuple[ObjectStore, str]:
    """Resolve `s3://bucket/prefix`, a local file or a local folder to (store, prefix)."""
    if source.startswith("s3://"):
        bucket, prefix = split_s3_uri(source)
        return S3Store(bucket, s3), prefix
    path = Path(source).expanduser()
    if not path.exists():
        raise FormatError(
            f"source {source!r} is neither an s3:// URI nor an existing file or folder"
        )
    if path.is_file():
        return LocalStore(path.parent), path.name
    return LocalStore(path), ""


def sha256_hex(data: bytes) -> str:
    """Content checksum recorded in the ledger."""
    return hashlib.sha256(data).hexdigest()


def open_target(target: str, s3: S3Config | None = None) -> tuple[ObjectStore, str]:
    """Resolve an output `s3://bucket/prefix` or local folder to (store, key prefix)."""
    if target.startswith("s3://"):
        bucket, prefix = split_s3_uri(target)
        return S3Store(bucket, s3), (prefix.rstrip("/") + "/") if prefix else ""
    path = Path(target).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return LocalStore(path), ""
