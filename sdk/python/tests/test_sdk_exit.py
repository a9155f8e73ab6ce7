"""Interpreter exit without close(): the records are flushed, or spooled when the gateway is
down. Each test runs a real Python process that meters and simply ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from stub_gateway import API_KEY, Gateway, spooled_lines, status

SCRIPT = textwrap.dedent(
    """
    import sys
    from meterhouse_client import MeterhouseClient

    url, key, spool, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = MeterhouseClient(
        url, key, spool_dir=spool, flush_interval_s=60, batch_size=1000,
        backoff_base_s=0.01, backoff_max_s=0.05, max_retries=1000, exit_timeout_s=0.5,
    )
    for i in range(count):
        record = client.meter("api_calls", i, "customer-1")
        print(record.unique_id)
    # no close(), no flush(), not even a reference: the process just ends
    del client, record
    import gc; gc.collect()
    """
)


def run_metering_process(gateway: Gateway, spool_dir: Path, count: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, gateway.url, API_KEY, str(spool_dir), str(count)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.split()


def test_exit_without_close_flushes(gateway: Gateway, spool_dir: Path) -> None:
    ids = run_metering_process(gateway, spool_dir, 50)
    assert len(ids) == 50
    assert sorted(gateway.state.stored_ids()) == sorted(ids)
    assert spooled_lines(spool_dir) == []


def test_exit_with_the_gateway_down_spools(gateway: Gateway, spool_dir: Path) -> None:
    gateway.state.default = status(503)
    ids = run_metering_process(gateway, spool_dir, 20)
    assert gateway.state.stored == []
    assert sorted(r["uniqueId"] for r in spooled_lines(spool_dir)) == sorted(ids)
