"""Byte-level helpers for telling formats apart by content: Amberflo's own keys carry no extension.

Which format an object holds is decided by the registry (etl.formats.registry.sniff_format),
which asks each format's parser in turn.
"""

from __future__ import annotations

from etl.errors import FormatError
from etl.sources.streams import UTF8_BOM

PARQUET_MAGIC = b"PAR1"
"""The first bytes of a Parquet file."""

SUPPORTED = "supported are Amberflo JSON, NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)"
"""The end of every unknown-format message."""


def strip_bom(data: bytes) -> bytes:
    """Drop a UTF-8 byte-order mark; spreadsheet tools add one to CSV exports."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


def first_line(data: bytes, limit: int = 64 * 1024) -> bytes:
    """The first line (without its line ending), looking at no more than `limit` bytes."""
    head = data[:limit]
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    return line.rstrip(b"\r")


def header_columns(text: bytes, uri: str) -> list[str]:
    """The column names of a CSV object's first line (`text`: without a byte-order mark).

    Raises FormatError when the first line is not UTF-8 text.
    """
    header = first_line(text)
    try:
        return [c.strip().strip('"') for c in header.decode("utf-8").split(",")]
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{uri}: unknown format: the first line is not UTF-8 text; {SUPPORTED}"
        ) from exc
