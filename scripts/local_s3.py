"""Start moto's S3 server on 127.0.0.1 for the embedded stack; used by the demo and `make up`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_s3(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Run `moto_server` bound to 127.0.0.1 only and wait until it answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log_path, "ab"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except requests.RequestException:
            if proc.poll() is not None:
                raise SystemExit(f"local S3 failed to start; see {log_path}") from None
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"local S3 did not answer on port {port} within 30s; see {log_path}")


def s3_env(port: int) -> dict[str, str]:
    """Environment for the CLI, boto3, polars and Airflow to reach the local S3."""
    endpoint = f"http://127.0.0.1:{port}"
    return {
        "AWS_ACCESS_KEY_ID": "meterhouse",
        "AWS_SECRET_ACCESS_KEY": "meterhouse-local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AIRFLOW_CONN_AWS_DEFAULT": (
            '{"conn_type": "aws", "login": "meterhouse", "password": "meterhouse-local", '
            f'"extra": {{"endpoint_url": "{endpoint}", "region_name": "us-east-1"}}}}'
        ),
    }


if __name__ == "__main__":
    port = int(os.environ.get("METERHOUSE_S3_PORT", "0")) or free_port()
    proc = start_s3(port, Path(".run/logs/s3.log"))
    print(port, proc.pid)
