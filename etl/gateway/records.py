"""A request body -> one line of JSON per record, within the gateway's limits.

Bodies are Amberflo's: a JSON array of records, NDJSON (one record per line), or a single
JSON object; optionally gzip. Each record becomes one line of the NDJSON object the gateway
stores, keeping the record's own text (numbers keep their digits). A record's index is its
0-based position in the request: the element of the array, or the non-blank line of NDJSON.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import msgspec

GZIP_MAGIC = b"\x1f\x8b"
_WS = " \t\r\n"


class BodyError(Exception):
    """A request the gateway refuses as a whole (status 400, 413 or 415)."""

    def __init__(self, status: int, rule: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.rule = rule
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class Split:
    """Records of a request as NDJSON lines; `syntax_errors` when the array cannot be split."""

    lines: list[bytes]
    syntax_errors: bool = False


def too_large(rule: str, detail: str) -> BodyError:
    return BodyError(413, rule, "Request too large", detail)


class Gunzip:
    """Incremental gunzip with a cap on the output, so a gzip bomb stops at `max_bytes`.

    Concatenated gzip members (what `cat a.gz b.gz` gives) are read one after another.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> int:
        """Decompress `data`; returns how many bytes it added. Raises BodyError over the cap."""
        added = 0
        while data:
            try:
                out = self._inflate.decompress(data, self.max_bytes - self.total + 1)
            except zlib.error as exc:
                raise BodyError(
                    400,
                    "gateway.body.gzip",
                    "Body is not valid gzip",
                    f"gzip data is corrupt: {exc}",
                ) from None
            self.total += len(out)
            added += len(out)
            if self.total > self.max_bytes:
                raise too_large(
                    "gateway.body.decompressed_size",
                    f"the body expands beyond {self.max_bytes} bytes once decompressed "
                    "(METERHOUSE_GATEWAY_MAX_DECOMPRESSED_BYTES); send fewer records per request",
                )
            self._parts.append(out)
            if self._inflate.eof:
                data = self._inflate.unused_data.lstrip(b"\0")
                if data:
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = self._inflate.unconsumed_tail
        return added

    def finish(self) -> bytes:
        if not self._inflate.eof:
            raise BodyError(
                400,
                "gateway.body.gzip",
                "Body is not valid gzip",
                f"gzip data ends early after {self.total} decompressed bytes; resend the whole body",
            )
        return b"".join(self._parts)


def _flat(text: bytes) -> bytes:
    # A raw newline cannot be inside a JSON string (the strict decoder refuses it), so any
    # newline in a record is whitespace between its tokens: a space keeps the record one line.
    return text.replace(b"\r", b" ").replace(b"\n", b" ")


def _check_count(count: int, max_records: int) -> None:
    if count > max_records:
        raise too_large(
            "gateway.body.records",
            f"the body holds more than {max_records} records "
            "(METERHOUSE_GATEWAY_MAX_RECORDS); split it into smaller requests",
        )


# Each element's own bytes, sliced out by a C parser at least as strict as `json` (it refuses
# NaN, control characters in strings, lone surrogates): what it accepts splits exactly as
# `_split_array_exact` would, and anything it refuses takes that exact splitter.
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])


def _split_array(body: bytes, max_records: int) -> Split:
    try:
        elements = _ELEMENTS.decode(body)
    except msgspec.DecodeError:
        return _split_array_exact(body.decode("utf-8", "surrogateescape"), max_records)
    _check_count(len(elements), max_records)
    if b"\n" in body or b"\r" in body:
        return Split([_flat(bytes(element)) for element in elements])
    return Split([bytes(element) for element in elements])


def _split_array_exact(text: str, max_records: int) -> Split:
    decoder = json.JSONDecoder()
    lines: list[bytes] = []
    pos = len(text) - len(text.lstrip(_WS)) + 1  # past '['
    end_of_text = len(text)
    while True:
        while pos < end_of_text and text[pos] in _WS:
            pos += 1
        if pos >= end_of_text:
            return Split(lines, syntax_errors=True)  # cut off: no closing bracket
        if text[pos] == "]":
            if text[pos + 1 :].strip(_WS):
                return Split(lines, syntax_errors=True)
            return Split(lines)
        if lines:
            if text[pos] != ",":
                return Split(lines, syntax_errors=True)
            pos += 1
            while pos < end_of_text and text[pos] in _WS:
                pos += 1
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return Split(lines, syntax_errors=True)
        lines.append(_flat(text[pos:end].encode("utf-8", "surrogateescape")))
        _check_count(len(lines), max_records)
        pos = end


def split_records(body: bytes, content_type: str, max_records: int) -> Split:
    """The body's records as NDJSON lines; BodyError when it is no supported shape or holds
    more than `max_records` records."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    head = body.lstrip(_WS.encode())[:1]
    if not head:
        raise BodyError(400, "gateway.body.empty", "Empty body", "the body holds no records")
    if head == b"[":
        return _split_array(body, max_records)
    if head != b"{":
        raise BodyError(
            400,
            "gateway.body.format",
            "Body is not JSON records",
            "the body must be a JSON array of records, NDJSON (one record per line) or one JSON "
            "object; optionally gzip with Content-Encoding: gzip",
        )
    if "ndjson" not in content_type and "jsonl" not in content_type:
        # One object, perhaps spread over lines (`curl -d @record.json`).
        try:
            if isinstance(json.loads(body), dict):
                return Split([_flat(body.strip())])
        except ValueError:
            pass  # NDJSON sent as application/json, or a syntax error the parser will name
    lines = [line.strip(b" \t\r") for line in body.split(b"\n")]
    records = [line for line in lines if line]
    _check_count(len(records), max_records)
    return Split([line.replace(b"\r", b" ") for line in records])
