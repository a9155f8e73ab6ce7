"""A throwaway Redis on 127.0.0.1: the Celery broker of the CeleryExecutor end-to-end test.

Debian's redis-server (`make redis-deps` installs it when missing), started on a free port with
no persistence and its files in a temp folder, stopped by its process id and deleted afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port


class RedisMissing(RuntimeError):
    """No redis-server binary on this machine."""


def redis_server_bin() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise RedisMissing(
            "Redis is not installed (no redis-server): run `make redis-deps` "
            "(apt-get install redis-server), then the tests again"
        )
    return found


class RedisServer:
    """One server: `start()`, `url(db)` -> redis://127.0.0.1:PORT/DB, `ping()`, `stop()`."""

    def __init__(self) -> None:
        self.bin = redis_server_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="meterhouse-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> RedisServer:
        args = [
            self.bin,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.root),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        with open(self.root / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout_s
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.root / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{log_text}")
            time.sleep(0.1)
        return self

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        """True when the server answers PING with PONG (raw RESP: no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
