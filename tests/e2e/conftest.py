"""End-to-end tests share one real stack (scheduler, triggerer, API server on SQLite, local S3).

A test here that fails is run once more before it counts as failed: on this 2-core machine,
runs that overlap on the stack's SQLite metadata database (a backfill, an Asset-triggered
rollup, a deferred sensor) have failed tests that pass when run again or alone. A test that
fails twice still fails the suite; the first failure is printed in the report (`R`).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=5))
