"""Run the browser tests last: they share the session's live stack with tests/e2e, whose
assertions on the warehouse expect to see only the days they loaded themselves."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    browser = [item for item in items if "tests/browser/" in item.nodeid]
    items[:] = [item for item in items if item not in browser] + browser
