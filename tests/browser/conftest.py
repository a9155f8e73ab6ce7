"""Run the live-stack tests last, tests/e2e before tests/browser: they share the session's live
stack (started by the first of them), whose scheduler, triggerer and DAG processor then run only
while they are needed instead of beside every other test; and the e2e assertions on the
warehouse expect to see only the days they loaded themselves."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [item for item in items if "tests/e2e/" in item.nodeid]
    browser = [item for item in items if "tests/browser/" in item.nodeid]
    live = set(e2e) | set(browser)
    items[:] = [item for item in items if item not in live] + e2e + browser
