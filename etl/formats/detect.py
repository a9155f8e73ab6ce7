"""Format detection by content: Amberflo's own keys carry no extension."""

from __future__ import annotations

from typing import Literal

from etl.errors import FormatError

SourceFormat = Literal[
    "amberflo_json", "amberflo_ndjson", "amberflo_csv", "focus_csv", "focus_parquet"
]

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """Drop a UTF-8 byte-order mark; spreadsheet tools add one to CSV exports."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


def first_line(data: bytes, limit: int = 64 * 1024) -> bytes:
    """The first line (without its line ending), looking at no more than `limit` bytes."""
    head = data[:limit]
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    return line.rstrip(b"\r")


def sniff_format(data: bytes, uri: str) -> SourceFormat | None:
    """Tell the format from decompressed bytes. None means the object holds no records.

    Raises FormatError for anything that is not a supported export.
    """
    from etl.formats.amberflo import AMBERFLO_CSV_REQUIRED
    from etl.formats.focus import is_focus_header

    if data.startswith(PARQUET_MAGIC):
        return "focus_parquet"
    text = strip_bom(data)
    stripped = text.lstrip(b" \t\r\n")
    if not stripped:
        return None
    if stripped[:1] == b"[":
        return "amberflo_json"
    if stripped[:1] == b"{":
        return "amberflo_ndjson"
    if uri.lower().endswith((".parquet", ".parquet.gz")):
        raise FormatError(
            f"{uri}: named .parquet but is not a Parquet file (no PAR1 magic); re-export it"
        )
    header = first_line(text)
    try:
        columns = [c.strip().strip('"') for c in header.decode("utf-8").split(",")]
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{uri}: unknown format: the first line is not UTF-8 text; supported are Amberflo JSON, "
            "NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)"
        ) from exc
    if is_focus_header(columns):
        return "focus_csv"
    if AMBERFLO_CSV_REQUIRED.issubset(set(columns)):
        return "amberflo_csv"
    raise FormatError(
        f"{uri}: unknown format: not JSON, not Parquet, and the first line is not an Amberflo CSV header "
        f"(needs {', '.join(sorted(AMBERFLO_CSV_REQUIRED))}) nor a FOCUS header; "
        "supported are Amberflo JSON, NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)"
    )
