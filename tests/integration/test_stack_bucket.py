"""`python scripts/stack.py bucket` (docker-compose.production.yml's minio-init service): the
`usage` bucket and nothing in it, against a real S3 API; running it again changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BUCKET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def test_bucket_creates_the_bucket_without_samples(s3_server: str) -> None:
    import boto3
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    assert BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_server}
    for _ in range(2):  # idempotent: compose runs it on every `up`
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "stack.py"), "bucket"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert BUCKET in {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
