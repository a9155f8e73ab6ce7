"""Finding the objects a run loads: list the sources, keep what is in scope and not yet loaded,
order by arrival, group into batches."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from contracts.status import SourceStatus
from etl.sources.stores import (
    LocalStore,
    ObjectInfo,
    ObjectStore,
    S3Config,
    S3Store,
    open_source,
    split_s3_uri,
)
from etl.sources.windows import DateWindow, in_window

# The pipeline's logger: operators filter on it.
log = logging.getLogger("meterhouse.pipeline")


@dataclass(frozen=True)
class SourceObject:
    """A listed object plus the root of the store it came from (`s3://bucket` or a folder).

    Travels between orchestrator tasks (Airflow XCom) as a plain dict.
    """

    root: str
    key: str
    uri: str
    size: int
    etag: str
    last_modified: str  # ISO-8601, UTC

    @classmethod
    def of(cls, root: str, info: ObjectInfo) -> SourceObject:
        """The listed object `info` of the store at `root`."""
        return cls(root, info.key, info.uri, info.size, info.etag, info.last_modified.isoformat())

    def info(self) -> ObjectInfo:
        """The object as its store lists it."""
        return ObjectInfo(
            self.uri, self.key, self.size, self.etag, datetime.fromisoformat(self.last_modified)
        )

    def to_dict(self) -> dict[str, Any]:
        """The object as plain values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SourceObject:
        """The object `to_dict` gave."""
        return cls(**raw)


class LedgerRecord(Protocol):
    """What discovery needs to know of an object's last load (etl.warehouse's ledger rows)."""

    @property
    def status(self) -> str: ...

    @property
    def etag(self) -> str: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def checksum_sha256(self) -> str | None: ...


def store_for(root: str, s3: S3Config | None = None) -> ObjectStore:
    """The store a SourceObject's `root` names."""
    if root.startswith("s3://"):
        bucket, _ = split_s3_uri(root)
        return S3Store(bucket, s3)
    return LocalStore(Path(root))


def list_sources(
    sources: Sequence[str], s3: S3Config | None = None, *, window: DateWindow | None = None
) -> list[SourceObject]:
    """Every object under `sources`; with a `window`, only undated keys and keys whose date
    folder overlaps it (etl.sources.windows)."""
    listed: list[SourceObject] = []
    for source in sources:
        store, prefix = open_source(source, s3)
        listed.extend(SourceObject.of(store.root_uri, info) for info in store.list(prefix))
    if window is not None and not window.unbounded:
        in_scope = [o for o in listed if in_window(o.key, window)]
        log.info(
            "step=scope window=%s listed=%d in_window=%d",
            window.describe(),
            len(listed),
            len(in_scope),
        )
        listed = in_scope
    return listed


def not_loaded(
    listed: Iterable[SourceObject], ledger: Mapping[str, LedgerRecord]
) -> list[SourceObject]:
    """Objects the ledger has not loaded in their current version: new objects, objects whose
    etag or size changed, objects whose last attempt hit a retryable error, and local files
    whose content no longer has the ledger's checksum.

    An S3 ETag changes with the content; a local file's "etag" is its mtime and size, which
    `cp -p` or `rsync -a` keep across an edit, so local files whose mtime and size match are
    hashed (one read, cheap beside parsing) and compared with the ledger's SHA-256.
    """
    pending = []
    for obj in listed:
        entry = ledger.get(obj.uri)
        if (
            entry is None
            or entry.status == SourceStatus.ERROR
            or entry.etag != obj.etag
            or entry.size_bytes != obj.size
            or (
                entry.checksum_sha256 is not None
                and is_local(obj)
                and file_sha256(Path(obj.uri)) != entry.checksum_sha256
            )
        ):
            pending.append(obj)
    return pending


def is_local(obj: SourceObject) -> bool:
    """True for an object of a local folder (its URI is its path)."""
    return not obj.root.startswith("s3://")


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a local file, read block by block (None if it vanished since listed)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(8 * 1024 * 1024):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def arrival_order(obj: SourceObject) -> tuple[str, str]:
    """Sort key: oldest first, so a newer FOCUS delivery of a billing period always loads after
    (and replaces) an older one found in the same run."""
    return (obj.last_modified, obj.uri)


def plan_batches(
    objects: Sequence[SourceObject], *, max_files: int, max_bytes: int
) -> list[list[SourceObject]]:
    """Group objects into batches so that thousands of small files become a few tasks."""
    batches: list[list[SourceObject]] = []
    current: list[SourceObject] = []
    size = 0
    for obj in objects:
        if current and (len(current) >= max_files or size + obj.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        batches.append(current)
    return batches
