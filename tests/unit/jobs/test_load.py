"""Reason objects of failed files (etl.jobs.load.reason_key): keys are data."""

from __future__ import annotations

import datetime as dt
import posixpath

import pytest

from etl.jobs.load import reason_key

UTC = dt.UTC

# -- reason_key -----------------------------------------------------------------------------------

WRITTEN_AT = dt.datetime(2024, 3, 5, 23, 0, tzinfo=UTC)
PREFIX = "failed-requests/2024-03-05/"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ingest/2024/export.json", "ingest/2024/export.json"),
        ("../../etc/passwd", "_/_/etc/passwd"),
        ("/etc/passwd", "_/etc/passwd"),
        ("//double/slash", "_/_/double/slash"),
        ("a/./b/../c", "a/_/b/_/c"),
        ("..", "_"),
        ("dir/", "dir/_"),
        ("...hidden/..x", "...hidden/..x"),
    ],
)
def test_reason_key_keeps_keys_inside_the_failed_requests_folder(key: str, expected: str) -> None:
    result = reason_key(key, WRITTEN_AT)

    assert result == f"{PREFIX}{expected}.reason.txt"
    assert posixpath.normpath(result).startswith(PREFIX)
    assert ".." not in result.split("/")
    assert not result.startswith("/")
