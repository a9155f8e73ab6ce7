"""Request bodies -> record lines: shapes, indexes, gzip with a cap, limits."""

from __future__ import annotations

import gzip
import json

import pytest

from etl.gateway.records import BodyError, Gunzip, _split_array_exact, split_records


def test_array_elements_become_lines_with_their_own_text() -> None:
    body = b'[ {"a": 1.50,\n "b": "x"} ,{"c": [1, 2]}\r\n]'
    split = split_records(body, "application/json", 10)
    assert split.lines == [b'{"a": 1.50,  "b": "x"}', b'{"c": [1, 2]}']
    assert not split.syntax_errors


@pytest.mark.parametrize(
    "body",
    [
        b'[{"a": 1.50, "b": "x"}, {"c": [1, {"d": "]"}]}, "s", 12345678901234567890, null]',
        b'[\n  {"a": "\\"quoted\\" \\u00e9 \\\\"},\r\n  {"b": 1e3}\n]\n',
        b' [ ] ',
        b'[{"a": "\xff\xfe not utf-8"}]',  # the records' rules name it, as in a file
        b'[{"a": NaN}, {"b": Infinity}]',  # only the exact splitter reads these
        b'[{"a": "\\ud800"}]',  # a lone surrogate escape, likewise
        b'[{"a": 1, "a": 2}]',
        b'[{"a": 1},]',
        b'[{"a": "tab\tinside"}]',
        b'[{"a": 1}] trailing',
    ],
)
def test_array_split_gives_what_the_exact_splitter_gives(body: bytes) -> None:
    assert split_records(body, "application/json", 10) == _split_array_exact(
        body.decode("utf-8", "surrogateescape"), 10
    )


def test_ndjson_index_counts_records_not_blank_lines() -> None:
    split = split_records(b'\n{"a": 1}\r\n\n  \n{"b": 2}\n', "application/x-ndjson", 10)
    assert split.lines == [b'{"a": 1}', b'{"b": 2}']


def test_single_pretty_object_is_one_record() -> None:
    body = json.dumps({"a": 1, "b": {"c": "d"}}, indent=2).encode()
    assert split_records(body, "application/json", 10).lines == [
        b'{   "a": 1,   "b": {     "c": "d"   } }'
    ]


@pytest.mark.parametrize(
    "body", [b'[{"a": 1}, {"b": ', b'[{"a": 1} {"b": 2}]', b'[{"a": 1}', b'[{"a": 1}] x']
)
def test_unsplittable_arrays_are_flagged(body: bytes) -> None:
    assert split_records(body, "application/json", 10).syntax_errors


@pytest.mark.parametrize(
    ("body", "status", "rule"),
    [
        (b"", 400, "gateway.body.empty"),
        (b"42", 400, "gateway.body.format"),
        (b"[" + b",".join([b"{}"] * 11) + b"]", 413, "gateway.body.records"),
        (b"\n".join([b"{}"] * 11), 413, "gateway.body.records"),
    ],
)
def test_refused_bodies(body: bytes, status: int, rule: str) -> None:
    with pytest.raises(BodyError) as info:
        split_records(body, "application/json", 10)
    assert (info.value.status, info.value.rule) == (status, rule)


def test_gunzip_reads_concatenated_members() -> None:
    g = Gunzip(1000)
    data = gzip.compress(b"hello ") + gzip.compress(b"world")
    for i in range(0, len(data), 7):
        g.feed(data[i : i + 7])
    assert g.finish() == b"hello world"


def test_gunzip_stops_a_bomb_at_the_cap() -> None:
    g = Gunzip(1024 * 1024)
    with pytest.raises(BodyError) as info:
        g.feed(gzip.compress(b"\0" * (64 * 1024 * 1024)))
    assert (info.value.status, info.value.rule) == (413, "gateway.body.decompressed_size")
    assert g.total <= 1024 * 1024 + 1


def test_gunzip_refuses_corrupt_and_cut_data() -> None:
    with pytest.raises(BodyError, match="corrupt"):
        Gunzip(100).feed(b"\x1f\x8b\x08\x00" + b"\0" * 6 + b"\xff" * 64)
    g = Gunzip(1000)
    g.feed(gzip.compress(b"x" * 100)[:-8])
    with pytest.raises(BodyError, match="ends early"):
        g.finish()
