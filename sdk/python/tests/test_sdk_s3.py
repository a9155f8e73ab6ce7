"""S3 mode against moto's S3 server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")

from meterhouse_client import DeliveryError, MeterhouseError, MeterhouseS3Client  # noqa: E402
from meterhouse_client.record import MeterRecord  # noqa: E402
from meterhouse_client.s3 import S3Transport  # noqa: E402
from meterhouse_client.transport import Batch  # noqa: E402

FAST: dict[str, Any] = {
    "flush_interval_s": 0.05,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "timeout_s": 5.0,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def _bucket(s3: Any, name: str) -> str:
    s3.create_bucket(Bucket=name)
    return name


def landed(s3: Any, bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Key -> records of every object under the bucket."""
    objects: dict[str, list[dict[str, Any]]] = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        lines = gzip.decompress(body).decode().splitlines()
        objects[item["Key"]] = [json.loads(line) for line in lines]
    return objects


def test_batches_land_as_ndjson_gz_under_the_landing_prefix(
    s3: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    bucket = _bucket(s3, "usage-landing")
    # no s3_client given: the client builds its own from the endpoint (credentials from env)
    client = MeterhouseS3Client(
        bucket, "ingest/", endpoint_url=s3_endpoint, region_name="us-east-1",
        spool_dir=tmp_path, batch_size=4, **{**FAST, "flush_interval_s": 30},
    )  # fmt: skip
    records = [client.meter("gpu_hours", f"{i}.25", "team-a") for i in range(10)]
    client.close()
    objects = landed(s3, bucket)
    day = datetime.now(tz=UTC).date().isoformat()
    assert sorted(objects) == [
        f"ingest/sdk/dt={day}/{client.client_id}-{n:08d}.ndjson.gz" for n in (1, 2, 3)
    ]
    rows = [row for key in sorted(objects) for row in objects[key]]
    assert [r["uniqueId"] for r in rows] == [r.unique_id for r in records]
    assert rows[1]["meterValue"] == 1.25 and rows[1]["customerId"] == "team-a"
    assert client.stats().sent == 10


def test_a_retried_put_overwrites_the_same_key(s3: Any) -> None:
    bucket = _bucket(s3, "usage-retry")
    transport = S3Transport(bucket, "ingest", client_id="c1", s3_client=s3)
    batch = Batch([MeterRecord.create("gpu_hours", 1, "team-a")], sequence=7, created_ms=0)
    transport.send(batch)
    transport.send(batch)  # the ack was lost: the same batch again
    assert list(landed(s3, bucket)) == ["ingest/sdk/dt=1970-01-01/c1-00000007.ndjson.gz"]


def test_s3_failure_spools_and_the_next_client_replays(s3: Any, tmp_path: Path) -> None:
    seen: list[MeterhouseError] = []
    client = MeterhouseS3Client(
        "usage-not-yet", s3_client=s3, spool_dir=tmp_path, max_retries=1,
        on_error=lambda exc, recs: seen.append(exc), **FAST,
    )  # fmt: skip
    records = [client.meter("gpu_hours", 2, "team-b") for _ in range(3)]
    client.close()
    assert isinstance(seen[0], DeliveryError) and "NoSuchBucket" in str(seen[0])
    assert len((tmp_path / f"{client.client_id}.ndjson").read_text().splitlines()) == 3

    _bucket(s3, "usage-not-yet")
    replayer = MeterhouseS3Client("usage-not-yet", s3_client=s3, spool_dir=tmp_path, **FAST)
    replayer.close()
    rows = [row for rows in landed(s3, "usage-not-yet").values() for row in rows]
    assert sorted(r["uniqueId"] for r in rows) == sorted(r.unique_id for r in records)
    assert list(tmp_path.glob("*.ndjson")) == []
