"""What the `usage_ingest` sensor asks before a run loads: is there anything new in its scope?

A run's scope is its prefixes and its date window (etl.sources.windows.ingest_window, the same
window `discover` uses). An object counts as new when the ingest ledger has not loaded it in its
current version (new key, changed etag or size, a retryable error last time), exactly as
`discover` decides; with `force` (reprocessing) every object in scope counts.

Read-only: the ledger is read from the DuckDB file with a read-only connection, never created.
The sensor's trigger lists the objects itself (asynchronously) and hands them in as plain dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from etl.settings import Settings
from etl.sources.discovery import SourceObject, not_loaded
from etl.sources.stores import FAILED_REQUESTS_PREFIX, S3Config, S3Store, split_s3_uri
from etl.sources.windows import DateWindow, in_window, ingest_window
from etl.warehouse import Warehouse

log = logging.getLogger("meterhouse.pipeline")

__all__ = ["RunScope", "run_scope", "unloaded_in_scope", "unloaded_now"]


@dataclass(frozen=True)
class RunScope:
    """What a run covers: S3 prefixes (`s3://bucket/prefix/`) and a UTC window `[start, end)`
    (None on a side: unbounded). `force`: every object in scope counts, loaded or not."""

    prefixes: tuple[str, ...]
    window_start: str | None = None
    window_end: str | None = None
    force: bool = False

    @property
    def window(self) -> DateWindow:
        """The window as a DateWindow."""
        return DateWindow(_moment(self.window_start), _moment(self.window_end))

    def describe(self) -> str:
        """`s3://usage/ingest/ in [start, end)` for logs."""
        return f"{', '.join(self.prefixes)} in {self.window.describe()}" + (
            " (force)" if self.force else ""
        )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def run_scope(
    sources: Sequence[str],
    *,
    run_type: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    start_date: str | None = None,
    end_date: str | None = None,
    force: bool = False,
    settings: Settings | None = None,
) -> RunScope:
    """The scope of an orchestrated run, from the same inputs as `etl.jobs.ingest.plan_run`.

    Raises InvalidWindow (terminal) for a date range that cannot be a scope.
    """
    settings = settings or Settings.from_env()
    window = ingest_window(
        run_type,
        interval_start,
        interval_end,
        start_date=start_date,
        end_date=end_date,
        late_days=settings.late_days,
    )
    for source in sources:
        split_s3_uri(source)  # a clear error for anything but s3://bucket/prefix
    return RunScope(
        tuple(sources),
        window.start.isoformat() if window.start else None,
        window.end.isoformat() if window.end else None,
        force,
    )


def unloaded_in_scope(
    listed: Sequence[Mapping[str, Any]], scope: RunScope, settings: Settings | None = None
) -> list[str]:
    """URIs of the `listed` objects that a run of `scope` would load, oldest first.

    `listed`: S3 listing entries as dicts with `bucket`, `key`, `size`, `etag` (quotes allowed)
    and `last_modified` (a datetime or ISO text). Folder markers and the bucket's
    failed-requests/ reasons are never exports; keys outside the window are out of scope.
    """
    window = scope.window
    objects = [
        _source_object(entry)
        for entry in listed
        if not str(entry["key"]).endswith("/")
        and not str(entry["key"]).startswith(FAILED_REQUESTS_PREFIX)
        and in_window(str(entry["key"]), window)
    ]
    if scope.force or not objects:
        pending = objects
    else:
        settings = settings or Settings.from_env()
        warehouse = Warehouse.of(settings, create=False)
        pending = not_loaded(objects, warehouse.ledger(o.uri for o in objects))
    log.info("step=sense scope=%s in_scope=%d new=%d", scope.describe(), len(objects), len(pending))
    return [o.uri for o in sorted(pending, key=lambda o: (o.last_modified, o.uri))]


def _source_object(entry: Mapping[str, Any]) -> SourceObject:
    bucket, key = str(entry["bucket"]), str(entry["key"])
    modified = entry.get("last_modified")
    stamp = (
        modified.astimezone(UTC).isoformat()
        if isinstance(modified, datetime)
        else str(modified or "")
    )
    return SourceObject(
        f"s3://{bucket}",
        key,
        f"s3://{bucket}/{key}",
        int(entry["size"]),
        str(entry.get("etag") or "").strip('"'),
        stamp,
    )


def unloaded_now(
    scope: RunScope, s3: S3Config | None = None, settings: Settings | None = None
) -> list[str]:
    """`unloaded_in_scope` with the listing done here, synchronously (one check before a
    sensor defers: a run whose exports are already there needs no trigger)."""
    listed: list[dict[str, Any]] = []
    for prefix_uri in scope.prefixes:
        bucket, prefix = split_s3_uri(prefix_uri)
        listed.extend(
            {
                "bucket": bucket,
                "key": info.key,
                "size": info.size,
                "etag": info.etag,
                "last_modified": info.last_modified,
            }
            for info in S3Store(bucket, s3).list(prefix)
        )
    return unloaded_in_scope(listed, scope, settings)
