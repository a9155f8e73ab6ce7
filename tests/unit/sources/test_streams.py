"""record_chunks: large exports cut into chunks of whole records, never inside one."""

from __future__ import annotations

import csv
import gzip
import io
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.errors import FormatError
from etl.sources.streams import DecompressedStream, read_ahead, record_chunks


def _chunks(data: bytes, *, csv_: bool, chunk_bytes: int, gz: bool = False) -> list[bytes]:
    raw = gzip.compress(data) if gz else data
    stream = DecompressedStream(io.BytesIO(raw), "s3://b/k", max_bytes=10**9)
    first = stream.read_upto(chunk_bytes)
    return list(record_chunks(stream, first, csv=csv_, chunk_bytes=chunk_bytes))


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


cell = st.text(alphabet='ab,"\n\r x', max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), max_size=30),
    chunk_bytes=st.integers(1, 64),
    gz=st.booleans(),
)
def test_csv_chunks_hold_whole_records_and_add_up_to_the_file(
    rows: list[list[str]], chunk_bytes: int, gz: bool
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["h1", "h2", "h3"])
    writer.writerows(rows)
    data = out.getvalue().encode()
    header = b"h1,h2,h3\r\n"

    chunks = _chunks(data, csv_=True, chunk_bytes=chunk_bytes, gz=gz)

    assert chunks[0].startswith(header)
    assert all(c.startswith(header) for c in chunks)
    assert header + b"".join(c[len(header) :] for c in chunks) == data
    parsed = [row for c in chunks for row in _rows(c)[1:]]
    assert parsed == _rows(data)[1:]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet='ab{}" \n', max_size=12), max_size=30),
    chunk_bytes=st.integers(1, 64),
)
def test_ndjson_chunks_end_on_line_ends_and_add_up_to_the_file(
    lines: list[str], chunk_bytes: int
) -> None:
    data = "\n".join(lines).encode()

    chunks = _chunks(data, csv_=False, chunk_bytes=chunk_bytes)

    assert b"".join(chunks) == data
    assert all(c.endswith(b"\n") for c in chunks[:-1])


def test_a_record_longer_than_a_chunk_stays_whole() -> None:
    data = b'{"a": 1}\n{"b": "' + b"x" * 1000 + b'"}\n{"c": 3}\n'

    chunks = _chunks(data, csv_=False, chunk_bytes=16)

    assert b"".join(chunks) == data
    assert chunks[0] == b'{"a": 1}\n'
    assert any(b'{"b": "' + b"x" * 1000 + b'"}\n' in c for c in chunks)


def test_csv_chunks_after_the_first_get_the_header_but_not_the_bom() -> None:
    data = b"\xef\xbb\xbfa,b\n1,2\n3,4\n5,6\n"

    chunks = _chunks(data, csv_=True, chunk_bytes=12)

    assert chunks[0].startswith(b"\xef\xbb\xbfa,b\n")
    assert all(c.startswith(b"a,b\n") for c in chunks[1:])
    assert len(chunks) > 1


def test_a_truncated_gzip_fails_when_the_stream_reaches_the_cut() -> None:
    raw = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(5000)))[:-40]
    stream = DecompressedStream(io.BytesIO(raw), "s3://b/cut.gz", max_bytes=10**9)
    first = stream.read_upto(1024)
    chunks = record_chunks(stream, first, csv=False, chunk_bytes=1024)

    assert next(chunks).startswith(b'{"n": 0}\n')
    with pytest.raises(FormatError, match=r"^s3://b/cut.gz: gzip data is truncated or corrupt"):
        list(chunks)


def test_a_bomb_fails_as_soon_as_the_stream_passes_the_limit() -> None:
    bomb = gzip.compress(b"\n" * 100_000)
    stream = DecompressedStream(io.BytesIO(bomb), "s3://b/bomb.gz", max_bytes=50_000)

    with pytest.raises(FormatError, match="gzip expands beyond 50000 bytes"):
        list(record_chunks(stream, stream.read_upto(1024), csv=False, chunk_bytes=1024))


def _numbers(n: int, log: list[str], fail_at: int | None = None) -> Iterator[int]:
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"bad item {i}")
            log.append(f"made {i}")
            yield i
    finally:
        log.append("closed")


def test_read_ahead_gives_every_item_in_order_and_makes_at_most_one_ahead() -> None:
    log: list[str] = []
    seen = []
    for item in read_ahead(_numbers(5, log)):
        time.sleep(0.05)  # the producer has time to run ahead, if it could
        made = sum(1 for line in log if line.startswith("made"))
        assert made <= item + 2  # this item and at most the next
        seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    assert log[-1] == "closed"


def test_read_ahead_with_a_budget_makes_items_until_their_weight_reaches_it() -> None:
    log: list[str] = []
    ahead = []
    # Items weigh 10 each, budget 30: up to three wait beyond the caller's (a group's worth).
    for item in read_ahead(_numbers(8, log), weight=lambda _: 10, budget=30, depth=100):
        time.sleep(0.05)  # the producer has time to run ahead as far as it may
        ahead.append(sum(1 for line in log if line.startswith("made")) - item - 1)
    assert max(ahead) == 3
    assert ahead[:4] == [3, 3, 3, 3]  # then the items run out
    assert log[-1] == "closed"


def test_read_ahead_with_a_budget_keeps_at_most_depth_items_waiting() -> None:
    log: list[str] = []
    ahead = []
    for item in read_ahead(_numbers(8, log), weight=lambda _: 0, budget=30, depth=2):
        time.sleep(0.05)
        ahead.append(sum(1 for line in log if line.startswith("made")) - item - 1)
    assert max(ahead) == 2


def test_read_ahead_raises_the_producers_error_after_the_items_before_it() -> None:
    log: list[str] = []
    seen = []
    with pytest.raises(ValueError, match="bad item 3"):
        for item in read_ahead(_numbers(5, log, fail_at=3)):
            seen.append(item)
    assert seen == [0, 1, 2]
    assert log[-1] == "closed"


def test_read_ahead_stops_and_closes_the_producer_when_the_caller_stops_early() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError):
        for item in read_ahead(_numbers(1000, log)):
            if item == 2:
                raise RuntimeError("load failed")
    assert log[-1] == "closed"
    assert sum(1 for line in log if line.startswith("made")) <= 4
    assert not [t for t in threading.enumerate() if t.name == "meterhouse-read-ahead"]
