"""Group commit with an in-memory writer: grouping, caps, failures, keys the ETL understands."""

from __future__ import annotations

import asyncio
import gzip
import threading

import pytest

from etl.gateway.commit import GroupCommitter, StoreUnavailable, object_key
from etl.gateway.metrics import GatewayMetrics
from etl.sources.windows import key_date_span


class MemoryWriter:
    def __init__(self, fail: int = 0) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = fail
        self.lock = threading.Lock()

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("S3 is down")
            self.objects[key] = data

    def ready(self) -> str | None:
        return None


def _committer(writer: MemoryWriter, **kw: object) -> GroupCommitter:
    options: dict[str, object] = {
        "gateway_id": "gw", "linger_s": 0.05, "group_bytes": 1 << 20, "group_records": 1000,
        "max_puts": 2, "metrics": GatewayMetrics(),
    }  # fmt: skip
    options.update(kw)
    return GroupCommitter(writer, **options)  # type: ignore[arg-type]


def _member(n: int) -> bytes:
    return gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(n)))


def test_requests_close_together_share_an_object() -> None:
    writer = MemoryWriter()

    async def run() -> list[str]:
        committer = _committer(writer)
        keys = await asyncio.gather(*[committer.commit(_member(3), 3) for _ in range(20)])
        await committer.close()
        return keys

    keys = asyncio.run(run())
    assert len(writer.objects) == 1 and set(keys) == set(writer.objects)
    body = gzip.decompress(next(iter(writer.objects.values())))  # members concatenate
    assert body.count(b"\n") == 60


def test_size_cap_and_failures() -> None:
    writer = MemoryWriter(fail=1)

    async def run() -> list[object]:
        committer = _committer(writer, group_records=4, linger_s=0.0, max_puts=1)
        results = await asyncio.gather(
            *[committer.commit(_member(2), 2) for _ in range(6)], return_exceptions=True
        )
        await committer.close()
        return list(results)

    results = asyncio.run(run())
    failed = [r for r in results if isinstance(r, StoreUnavailable)]
    assert 1 <= len(failed) <= 2  # the first group (one or two requests) hit the failure
    stored = sum(gzip.decompress(b).count(b"\n") for b in writer.objects.values())
    assert stored == 2 * (6 - len(failed))  # exactly the acknowledged requests' records
    assert all(gzip.decompress(b).count(b"\n") <= 4 for b in writer.objects.values())


def test_close_writes_what_is_pending() -> None:
    writer = MemoryWriter()

    async def run() -> None:
        committer = _committer(writer, linger_s=30)
        task = asyncio.ensure_future(committer.commit(_member(1), 1))
        await asyncio.sleep(0.01)
        await committer.close()
        # answered without waiting for the 30 s linger
        assert await asyncio.wait_for(task, 1) in writer.objects

    asyncio.run(run())


def test_a_group_is_written_once_no_request_is_on_its_way() -> None:
    writer = MemoryWriter()

    async def run() -> None:
        committer = _committer(writer, linger_s=30)
        with committer.incoming() as first, committer.incoming() as second:
            one = asyncio.ensure_future(committer.commit(_member(1), 1, first))
            await asyncio.sleep(0.05)
            assert not one.done() and not writer.objects  # held for the request on its way
            two = asyncio.ensure_future(committer.commit(_member(2), 2, second))
            keys = await asyncio.wait_for(asyncio.gather(one, two), 1)  # not the 30 s linger
        assert keys[0] == keys[1] and list(writer.objects) == [keys[0]]
        with committer.incoming() as third:
            three = asyncio.ensure_future(committer.commit(_member(1), 1, third))
            with committer.incoming():
                await asyncio.sleep(0.05)
                assert not three.done()
            # the other request left without joining (an error answer): nothing to wait for
            assert await asyncio.wait_for(three, 1) in writer.objects
        await committer.close()

    asyncio.run(run())


@pytest.mark.parametrize("day", ["2026-10-01", "2027-01-31"])
def test_object_keys_are_dated_for_the_batch_path(day: str) -> None:
    key = "ingest/" + object_key("gw-0a1b2c3d", 7, day)
    assert key == f"ingest/api/dt={day}/gw-0a1b2c3d-0000000007.ndjson.gz"
    span = key_date_span(key)
    assert span is not None and span[0].date().isoformat() == day
