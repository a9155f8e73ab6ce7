"""Group commit, backpressure and S3 failures against the real server and moto's S3: a 200 is
always in S3, and a refused request (503 / 429) is never half-stored or lost once retried."""

from __future__ import annotations

import gzip
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from etl.formats.registry import sniff_format
from etl.gateway.batch_rules import S3Config
from etl.gateway.store import S3Writer
from etl.sources.windows import key_date_span
from tests.integration.gateway._gateway import (
    LANDING,
    ThreadGateway,
    gateway_settings,
    landed_keys,
    landed_records,
    record,
    running_gateway,
)
from tests.integration.s3_faults import FaultProxy
from tests.ports import free_port

pytestmark = [pytest.mark.integration]

KEY_SHAPE = re.compile(r"^ingest/api/dt=(\d{4}-\d{2}-\d{2})/gw-[0-9a-f]{8}-\d{10}\.ndjson\.gz$")


def _post_all(gw: ThreadGateway, batches: list[list[dict[str, Any]]], workers: int) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda b: gw.post(b), batches))


def test_concurrent_requests_share_objects_and_every_record_lands_once(s3: Any) -> None:
    batches = [[record(f"g{n}-{i}") for i in range(5)] for n in range(40)]
    with running_gateway(gateway_settings(linger_ms=200)) as gw:
        responses = _post_all(gw, batches, workers=40)
        assert [r.status_code for r in responses] == [200] * 40
        keys = landed_keys(s3)  # acknowledged means stored: no waiting for the server to stop
    assert 1 <= len(keys) < 40 / 4, keys  # many requests per object
    ids = [r["uniqueId"] for r in landed_records(s3)]
    assert sorted(ids) == sorted(r["uniqueId"] for b in batches for r in b)
    for key in keys:
        match = KEY_SHAPE.match(key)
        assert match, key
        span = key_date_span(key)  # the batch path's date window understands the key
        assert span is not None and span[0].date().isoformat() == match.group(1)
        body = s3.get_object(Bucket="usage", Key=key)["Body"].read()
        assert body[:2] == b"\x1f\x8b"
        assert sniff_format(gzip.decompress(body), key) == "amberflo_ndjson"


def test_group_size_cap_splits_objects(s3: Any) -> None:
    batches = [[record(f"cap{n}-{i}") for i in range(10)] for n in range(12)]
    with running_gateway(gateway_settings(linger_ms=250, group_records=20)) as gw:
        assert {r.status_code for r in _post_all(gw, batches, workers=12)} == {200}
    assert len(landed_keys(s3)) >= 6  # at most 20 records (two requests) per object
    assert len(landed_records(s3)) == 120


def test_s3_unreachable_answers_503_with_retry_after(s3: Any) -> None:
    dead = S3Writer(
        LANDING, timeout_s=1, config=S3Config(endpoint_url=f"http://127.0.0.1:{free_port()}")
    )
    with running_gateway(gateway_settings(retry_after_s=7), dead) as gw:
        response = gw.post([record("lost?")])
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["title"] == "Storage unavailable"
        ready = requests.get(f"{gw.url}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.headers["retry-after"] == "7"
        text = requests.get(f"{gw.url}/metrics", timeout=30).text
        assert 'meterhouse_gateway_s3_errors_total{operation="put"} 1.0' in text
        assert 'meterhouse_gateway_requests_total{status="503"} 1.0' in text
    assert landed_records(s3) == []


def test_s3_failing_for_a_while_loses_nothing_acknowledged(s3: Any, s3_server: str) -> None:
    port = int(s3_server.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        writer = S3Writer(LANDING, timeout_s=5, config=S3Config(endpoint_url=proxy.endpoint))
        # 503 SlowDown for the next PUTs (boto3 tries each twice): several groups fail.
        proxy.add("PUT", "/usage/ingest/api/", "slowdown", times=6)
        batches = [[record(f"f{n}-{i}") for i in range(3)] for n in range(30)]
        acked: set[str] = set()
        refused = 0
        with running_gateway(gateway_settings(linger_ms=10, max_puts=2), writer) as gw:
            pending = list(batches)
            for _round in range(20):
                responses = _post_all(gw, pending, workers=10)
                retry = []
                for batch, response in zip(pending, responses, strict=True):
                    if response.status_code == 200:
                        acked.update(r["uniqueId"] for r in batch)
                    else:
                        assert response.status_code == 503
                        assert int(response.headers["retry-after"]) >= 1
                        refused += 1
                        retry.append(batch)
                # every acknowledged record is already in S3, whatever happens next
                assert acked <= {r["uniqueId"] for r in landed_records(s3)}
                if not retry:
                    break
                pending = retry
    assert refused >= 1
    assert acked == {r["uniqueId"] for b in batches for r in b}
    assert proxy.requests("PUT", "/usage/ingest/api/").count("slowdown") == 6


class HeldWriter:
    """S3 writes wait until released (a slow S3), so requests stay in flight."""

    def __init__(self, inner: S3Writer) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.entered = threading.Event()

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self.entered.set()
        self.release.wait(30)
        self.inner.put(key, data, metadata)

    def ready(self) -> str | None:
        return self.inner.ready()


def test_full_buffer_answers_429_and_the_held_request_still_lands(s3: Any) -> None:
    writer = HeldWriter(S3Writer(LANDING))
    big = [record(f"big-{i}", note="x" * 500) for i in range(100)]  # ~70 KB in flight
    with running_gateway(gateway_settings(buffer_bytes=100_000, retry_after_s=3), writer) as gw:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(gw.post, big)
            assert writer.entered.wait(30)
            second = gw.post(big)
            assert second.status_code == 429
            assert second.headers["retry-after"] == "3"
            assert second.json()["title"] == "Gateway busy"
            writer.release.set()
            assert first.result().json() == {"stored": 100}
        time.sleep(0.1)
        assert gw.post(big).status_code == 200  # room again once the first is answered
    assert len(landed_records(s3)) == 200
