"""Helpers for the gateway tests: a real uvicorn server (thread or subprocess), keys, records,
what landed in S3, and the batch ingest that loads it (imported here only)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from etl.settings import ApiKeySpec, GatewaySettings
from tests.conftest import BUCKET, ROOT
from tests.ports import free_port

KEY = "gw-test-key-all-customers"
SCOPED_KEY = "gw-test-key-only-c1"
LANDING = f"s3://{BUCKET}/ingest/"
API_PREFIX = "ingest/api/"


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_env() -> str:
    """METERHOUSE_GATEWAY_API_KEYS for KEY (any customer) and SCOPED_KEY (customer c1)."""
    return f"{sha256_hex(KEY)},{sha256_hex(SCOPED_KEY)}=c1"


def gateway_settings(**overrides: Any) -> GatewaySettings:
    base = GatewaySettings(
        api_keys=(
            ApiKeySpec(sha256_hex(KEY), None, "all"),
            ApiKeySpec(sha256_hex(SCOPED_KEY), frozenset({"c1"}), "c1-only"),
        ),
        landing=LANDING,
        linger_ms=20,
    )
    return replace(base, **overrides)


def now_ms() -> int:
    return int(time.time() * 1000)


def record(
    uid: str | None, customer: str = "c1", value: Any = "1.5", **fields: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "customerId": customer,
        "meterApiName": "gpu_hours",
        "meterValue": value,
        "meterTimeInMillis": now_ms(),
        "dimensions": {"region": "eu-west-1"},
    }
    if uid is not None:
        out["uniqueId"] = uid
    out.update(fields)
    return out


@dataclass
class ThreadGateway:
    """The gateway app under uvicorn in a thread of the test process."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def post(self, body: Any, *, key: str | None = KEY, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers.setdefault("X-API-KEY", key)
        data = json.dumps(body).encode() if isinstance(body, list | dict) else body
        return requests.post(f"{self.url}/ingest", data=data, headers=headers, timeout=60, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def start_thread_gateway(settings: GatewaySettings, writer: Any = None) -> ThreadGateway:
    import uvicorn

    from etl.gateway.app import create_app

    port = free_port()
    app = create_app(settings, writer)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    return ThreadGateway(f"http://127.0.0.1:{port}", app, server, thread)


@contextmanager
def running_gateway(settings: GatewaySettings, writer: Any = None) -> Iterator[ThreadGateway]:
    gw = start_thread_gateway(settings, writer)
    try:
        yield gw
    finally:
        gw.stop()


class ProcessGateway:
    """`meterhouse serve` in a subprocess (for SIGKILL), configured by the environment."""

    def __init__(self, port: int, log: Path, **env: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log
        self._env = {
            **os.environ,
            "METERHOUSE_GATEWAY_API_KEYS": keys_env(),
            "METERHOUSE_LANDING": LANDING,
            "METERHOUSE_GATEWAY_LINGER_MS": "20",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        with open(self._log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "etl.cli", "serve", "--port", str(self.port)],
                env=self._env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self._log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the gateway subprocess did not answer /healthz")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def landed_keys(s3: Any) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=API_PREFIX):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(keys)


def landed_records(s3: Any) -> list[dict[str, Any]]:
    """Every record in every object the gateway wrote, in key order."""
    out: list[dict[str, Any]] = []
    for key in landed_keys(s3):
        body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        out.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return out


def ingest_landing(warehouse: Path) -> Any:
    """Load everything under the landing prefix with the batch path (the `usage_ingest` code).

    The one import of the batch ingest in the gateway tests: it moves with etl's restructure.
    """
    from etl.jobs.ingest import ingest
    from etl.settings import Settings

    settings = Settings.from_env(warehouse)
    return ingest([f"s3://{BUCKET}/{API_PREFIX}"], settings)
