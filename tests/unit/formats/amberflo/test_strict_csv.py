"""The file check that decides whether DuckDB may read a CSV export: every quote opens, closes
or is doubled inside a whole field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.formats.amberflo.duckdb_csv import StrictScan, strict_csv_file
from etl.formats.amberflo.fast import QUOTED_FIELD


def _scanned(body: bytes, cuts: list[int] = []) -> bool:  # noqa: B006 - not mutated
    scan = StrictScan()
    at = 0
    for cut in sorted(cuts):
        if not scan.feed(body[at:cut]):
            return False
        at = cut
    return scan.feed(body[at:]) and scan.end()


def _tokenized(body: bytes) -> bool:
    """The reference: tokenize quoted fields left to right and check each is a whole field,
    with no carriage return and no blank line."""
    if b"\r" in body or b"\n\n" in body or body.startswith(b"\n"):
        return False
    quotes = 0
    for match in QUOTED_FIELD.finditer(body):
        start, end = match.span()
        if start > 0 and body[start - 1] not in b",\n":
            return False
        if end < len(body) and body[end] not in b",\n":
            return False
        quotes += end - start - len(match.group().replace(b'"', b""))
    return quotes == body.count(b'"')


@pytest.mark.parametrize(
    ("body", "whole"),
    [
        (b'a,"b"\n', True),
        (b'"",""\n', True),
        (b'"a""b",c\n"x\ny",z\n', True),
        (b'"""",a\n', True),
        (b'a,"{""k"":""v""}"\n', True),
        (b'a"b,c\n', False),
        (b'"a"b,c\n', False),
        (b'a,"b\n', False),
        (b'a,b"\n', False),
        (b'"a"""b",c\n', False),
        (b'x,""y\n', False),
        (b"a,b\n\nc,d\n", False),
        (b"\na,b\n", False),
        (b"a,b\r\n", False),
    ],
)
def test_quotes_that_open_or_close_whole_fields(body: bytes, whole: bool) -> None:
    assert _scanned(body) is whole
    assert _tokenized(body) is whole
    assert all(_scanned(body, [cut]) is whole for cut in range(len(body) + 1))


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from([b'"', b",", b"\n", b"a", b'""', b',"', b'",', b"\r"]), max_size=30),
    st.lists(st.integers(0, 60), max_size=4),
)
def test_the_check_agrees_with_tokenizing_however_the_file_is_cut(
    parts: list[bytes], cuts: list[int]
) -> None:
    """Fed in blocks cut anywhere (inside a run of quotes, between two newlines)."""
    body = b"".join(parts)
    assert _scanned(body, [min(cut, len(body)) for cut in cuts]) is _tokenized(body)


def test_a_stray_quote_deep_in_a_large_file_refuses_it(tmp_path) -> None:
    row = b'tenant-1,"{""team"":""a""}",1.5\n'
    good = tmp_path / "good.csv"
    good.write_bytes(b"customer,tags,value\n" + row * 400_000)
    assert strict_csv_file(str(good), "s3://x/good.csv", 1 << 30)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"customer,tags,value\n" + row * 300_000 + b'tenant-"2,x,1\n' + row * 100_000)
    assert not strict_csv_file(str(bad), "s3://x/bad.csv", 1 << 30)
