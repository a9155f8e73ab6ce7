"""The trigger behind `NewExportsSensor`: polls S3 (aiobotocore) until the run's scope holds an
object the ingest ledger has not loaded, or until its deadline.

It runs in the triggerer, which imports it by its class path
(`meterhouse_airflow.triggers.NewExportsTrigger`: the plugins folder is on the triggerer's
sys.path, and the package is part of the meterhouse distribution). The ledger question is
`etl.jobs.sense.unloaded_in_scope`, a read-only DuckDB read run in a thread so that the
triggerer's event loop never blocks on it.

Events: `{"status": "found", "uris": [...], "count": n}`, `{"status": "timeout", ...}` at the
deadline (so `dag.test()`, which runs triggers inline with no timeout of its own, ends too) and
`{"status": "error", "message": ...}` for what waiting cannot fix (a missing bucket).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

CLASSPATH = "meterhouse_airflow.triggers.NewExportsTrigger"
#: At most this many URIs travel back in the event (the count is always exact).
EVENT_URIS = 100


class NewExportsTrigger(BaseTrigger):
    """Fires when an object in `prefixes` and the window is new to the ledger (or changed).

    :param prefixes: `s3://bucket/prefix/` URIs
    :param window_start: / window_end: ISO UTC bounds of the run's window (None: unbounded)
    :param force: every object in scope counts (a reprocessing run)
    :param deadline: ISO UTC time after which the trigger gives up with a `timeout` event
    """

    def __init__(
        self,
        *,
        prefixes: list[str],
        window_start: str | None,
        window_end: str | None,
        force: bool,
        aws_conn_id: str,
        poke_interval: float,
        deadline: str,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.prefixes = list(prefixes)
        self.window_start = window_start
        self.window_end = window_end
        self.force = force
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and arguments (the triggerer re-creates the trigger from them)."""
        return (
            CLASSPATH,
            {
                "prefixes": self.prefixes,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "force": self.force,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until something new is in scope, the deadline passes or S3 says no for good."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.exceptions import ClientError

        from etl.errors import RetryableError
        from etl.jobs.sense import RunScope, unloaded_in_scope

        scope = RunScope(tuple(self.prefixes), self.window_start, self.window_end, self.force)
        deadline = datetime.fromisoformat(self.deadline)
        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        async with await hook.get_async_conn() as client:  # type: ignore[no-untyped-call]
            while True:
                try:
                    listed = await _list(client, self.prefixes)
                    new = await asyncio.to_thread(unloaded_in_scope, listed, scope)
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId"):
                        yield TriggerEvent(
                            {"status": "error", "message": f"{scope.describe()}: {exc}"}
                        )  # type: ignore[no-untyped-call]
                        return
                    self.log.warning("listing %s failed, trying again: %s", scope.describe(), exc)
                    new = []
                except RetryableError as exc:  # a writer held the warehouse: ask again later
                    self.log.info("ledger busy, trying again: %s", exc)
                    new = []
                if new:
                    self.log.info("%d new objects in %s", len(new), scope.describe())
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {"status": "found", "uris": new[:EVENT_URIS], "count": len(new)}
                    )
                    return
                left = (deadline - datetime.now(tz=UTC)).total_seconds()
                if left <= 0:
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {
                            "status": "timeout",
                            "message": f"nothing new in {scope.describe()} by {self.deadline}",
                        }
                    )
                    return
                await asyncio.sleep(min(self.poke_interval, left))


async def _list(client: Any, prefixes: list[str]) -> list[dict[str, Any]]:
    """Every object under the prefixes: bucket, key, size, etag, last_modified."""
    listed: list[dict[str, Any]] = []
    for uri in prefixes:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            listed.extend(
                {
                    "bucket": bucket,
                    "key": obj["Key"],
                    "size": obj["Size"],
                    "etag": obj.get("ETag", ""),
                    "last_modified": obj.get("LastModified"),
                }
                for obj in page.get("Contents", [])
            )
    return listed
