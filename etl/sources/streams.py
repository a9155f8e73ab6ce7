"""Reading an export as a stream: gunzip on the fly, cut into chunks at record boundaries.

A large export is never held whole in memory. Its decompressed bytes are read block by block
and cut into chunks of about `chunk_bytes` that end on a record boundary: after a newline for
NDJSON, after a newline outside any quoted field for CSV (RFC 4180 quotes pair up, so a
newline ends a record exactly when the quotes before it are balanced). Every CSV chunk after
the first gets the header line in front, so each chunk parses on its own.
"""

from __future__ import annotations

import collections
import gzip
import io
import threading
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, TypeVar

from etl.errors import FormatError

GZIP_MAGIC = b"\x1f\x8b"
"""The first bytes of a gzip stream: objects are gunzipped by content, whatever their key says."""
UTF8_BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte-order mark spreadsheet tools put in front of CSV exports."""

_BLOCK = 8 * 1024 * 1024
T = TypeVar("T")


class DecompressedStream:
    """The decompressed bytes of an object (gzip by its magic bytes), at most `max_bytes`."""

    def __init__(self, raw: BinaryIO, uri: str, max_bytes: int) -> None:
        self.uri = uri
        self.max_bytes = max_bytes
        self.total = 0
        head = raw.read(2)
        size = raw.seek(0, 2)
        raw.seek(0)
        self.gzipped = head == GZIP_MAGIC
        if not self.gzipped and size > max_bytes:
            raise FormatError(
                f"{uri}: object is {size} bytes, over the limit of {max_bytes} "
                "(METERHOUSE_MAX_OBJECT_BYTES); split the export or raise the limit"
            )
        self._raw = raw
        self._reader: BinaryIO = gzip.GzipFile(fileobj=raw) if self.gzipped else raw  # type: ignore[assignment]

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        try:
            data = self._reader.read(size)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise FormatError(
                f"{self.uri}: gzip data is truncated or corrupt ({exc}); re-upload the complete file"
            ) from exc
        self.total += len(data)
        if self.total > self.max_bytes:
            raise FormatError(
                f"{self.uri}: gzip expands beyond {self.max_bytes} bytes (METERHOUSE_MAX_OBJECT_BYTES); "
                "refusing it as a possible decompression bomb; split the export or raise the limit"
            )
        return data

    def read_upto(self, size: int) -> bytes:
        """Exactly `size` bytes unless the stream ends first."""
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            block = self.read(min(wanted, _BLOCK))
            if not block:
                break
            parts.append(block)
            wanted -= len(block)
        return b"".join(parts)

    def read_rest(self) -> bytes:
        parts = []
        while block := self.read(_BLOCK):
            parts.append(block)
        return b"".join(parts)


def decompress(data: bytes, uri: str, max_bytes: int) -> tuple[bytes, bool]:
    """Gunzip `data` when it starts with the gzip magic bytes, whatever the key says.

    Reading stops at `max_bytes` of output, so a decompression bomb fails fast instead of
    filling memory.
    """
    stream = DecompressedStream(io.BytesIO(data), uri, max_bytes)
    return stream.read_rest(), stream.gzipped


def _csv_boundary(buf: bytes, end: int) -> int:
    """Index just past the last newline of `buf[:end]` that ends a CSV record, or 0 when none
    does.

    `buf` starts at a record boundary, so a newline ends a record when the quotes before it
    are balanced (an escaped quote is a pair and keeps the balance).
    """
    quotes = buf.count(b'"', 0, end)
    limit = end
    while (nl := buf.rfind(b"\n", 0, limit)) >= 0:
        # Quotes before the newline: all of them minus those from it to `end`.
        if (quotes - buf.count(b'"', nl, end)) % 2 == 0:
            return nl + 1
        limit = nl
    return 0


def _boundary(buf: bytes, csv: bool, end: int) -> int:
    return _csv_boundary(buf, end) if csv else buf.rfind(b"\n", 0, end) + 1


def record_chunks(
    stream: DecompressedStream, first: bytes, *, csv: bool, chunk_bytes: int
) -> Iterator[bytes]:
    """Chunks of whole records of about `chunk_bytes`; `first` is what was read already.

    CSV chunks after the first start with the header line. A record longer than
    `chunk_bytes` makes its chunk longer: nothing is ever split inside a record.
    """
    header = b""
    pending, first = first, b""  # hold the bytes once
    is_first = True
    at_end = False
    while True:
        if not at_end and len(pending) < chunk_bytes:
            block = stream.read_upto(chunk_bytes - len(pending))
            at_end = not block
            pending += block
            continue
        if at_end:
            if is_first or pending:
                yield pending if is_first else header + pending
            return
        # The last record boundary within the chunk size, else (a record longer than a
        # chunk) the last one read so far.
        cut = _boundary(pending, csv, chunk_bytes) or _boundary(pending, csv, len(pending))
        if cut == 0:
            # No record ends inside what was read: read on.
            block = stream.read_upto(chunk_bytes)
            at_end = not block
            pending += block
            continue
        chunk, pending = pending[:cut], pending[cut:]
        if is_first and csv:
            # The first chunk ends on a record boundary, so it holds the whole header line.
            body = chunk[len(UTF8_BOM) :] if chunk.startswith(UTF8_BOM) else chunk
            header = body[: _csv_boundary(body, body.find(b"\n") + 1) or len(body)]
        yield chunk if is_first else header + chunk
        is_first = False


def read_ahead(
    items: Iterator[T],
    *,
    weight: Callable[[T], int] | None = None,
    budget: int = 0,
    depth: int = 1,
) -> Generator[T, None, None]:
    """`items`, each produced in a background thread while the caller works on the one
    before (parse the next chunk while the warehouse loads this one: polars and DuckDB
    release the GIL).

    By default the producer makes an item only once the previous was taken: at most two are
    alive, the caller's and the next. With a `budget`, it goes on making items while fewer
    than `depth` wait and their `weight` (e.g. rows) adds up to less than `budget`: the
    caller's next group of small objects is parsed while it loads this one.

    An exception from `items` is raised to the caller in order. If the caller stops early,
    the producer is told to stop and `items` is closed in its own thread before this returns.
    """
    ready = threading.Condition()
    waiting: collections.deque[tuple[bool, Any, int]] = collections.deque()
    state = {"weight": 0, "stop": False}

    def room() -> bool:
        if state["stop"] or not waiting:
            return True
        return budget > 0 and len(waiting) < depth and state["weight"] < budget

    def hand(done: bool, value: Any, size: int) -> None:
        with ready:
            waiting.append((done, value, size))
            state["weight"] += size
            ready.notify_all()

    def produce() -> None:
        try:
            while True:
                with ready:
                    ready.wait_for(room)
                    if state["stop"]:
                        return
                try:
                    item = next(items)
                except StopIteration:
                    hand(True, None, 0)
                    return
                hand(False, item, weight(item) if weight is not None else 0)
                del item
        except BaseException as exc:  # handed to the caller
            hand(True, exc, 0)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="meterhouse-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            with ready:
                ready.wait_for(lambda: bool(waiting))
                done, value, size = waiting.popleft()
                state["weight"] -= size
                ready.notify_all()  # the next item is made while the caller works on this one
            if done:
                if value is not None:
                    raise value
                return
            yield value
            del value
    finally:
        with ready:
            state["stop"] = True
            waiting.clear()
            ready.notify_all()
        worker.join()
