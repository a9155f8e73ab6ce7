"""The format registry: which parser reads an object, told by its content.

Every format family registers one parser object (etl.formats.base.FormatParser); the ingest
job asks the registry to sniff an object's format and hands the bytes to that format's parser.
Adding a format is a new package with a parser and one line here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from etl.errors import FormatError
from etl.formats.amberflo import AMBERFLO_CSV_REQUIRED, AmberfloParser
from etl.formats.base import (
    Chunking,
    ChunkParser,
    FormatParser,
    ParsedSource,
    ParseOptions,
    SourceFormat,
    no_rows,
)
from etl.formats.detect import SUPPORTED, header_columns, strip_bom
from etl.formats.focus import FocusParser
from etl.formats.prometheus import PrometheusParser

AMBERFLO = AmberfloParser()
FOCUS = FocusParser()
PROMETHEUS = PrometheusParser()

PARSERS: tuple[FormatParser, ...] = (AMBERFLO, FOCUS, PROMETHEUS)
"""Every registered parser."""

# The order each sniffing step asks the parsers in. By content, FOCUS comes last: it refuses
# a `.parquet` key whose bytes are not Parquet, which must not shadow a JSON export. By
# header, FOCUS comes first: its test (five mandatory FOCUS columns) is the stricter one.
# Prometheus first: its series lines are JSON objects, which Amberflo's sniffing would claim.
_BY_CONTENT: tuple[FormatParser, ...] = (PROMETHEUS, AMBERFLO, FOCUS)
_BY_HEADER: tuple[FormatParser, ...] = (FOCUS, AMBERFLO)

_BY_FORMAT: dict[SourceFormat, FormatParser] = {f: p for p in PARSERS for f in p.formats}


def parser_for(fmt: SourceFormat) -> FormatParser:
    """The parser of `fmt`."""
    return _BY_FORMAT[fmt]


def sniff_format(data: bytes, uri: str) -> SourceFormat | None:
    """Tell the format from decompressed bytes. None means the object holds no records.

    Raises FormatError for anything that is not a supported export.
    """
    if not strip_bom(data).lstrip(b" \t\r\n"):
        return None
    for parser in _BY_CONTENT:
        fmt = parser.sniff_content(data, uri)
        if fmt is not None:
            return fmt
    columns = header_columns(strip_bom(data), uri)
    for parser in _BY_HEADER:
        fmt = parser.sniff_header(columns)
        if fmt is not None:
            return fmt
    raise FormatError(
        f"{uri}: unknown format: not JSON, not Parquet, and the first line is not an Amberflo CSV header "
        f"(needs {', '.join(sorted(AMBERFLO_CSV_REQUIRED))}) nor a FOCUS header; {SUPPORTED}"
    )


def parse_as(
    data: bytes,
    fmt: SourceFormat | None,
    uri: str,
    written_at: datetime,
    options: ParseOptions,
) -> ParsedSource:
    """Decompressed bytes of one whole object of format `fmt` (None: no records) -> events
    (or raw records, see `normalize_parsed`) and rejects."""
    if fmt is None:
        return no_rows(None)
    return parser_for(fmt).parse(data, fmt, uri, written_at, options)


def parse_source(
    data: bytes, uri: str, written_at: datetime, options: ParseOptions | None = None
) -> ParsedSource:
    """Decompressed bytes of one object -> canonical events and rejects (format by content)."""
    return parse_as(data, sniff_format(data, uri), uri, written_at, options or ParseOptions())


def normalize_parsed(parsed: Sequence[ParsedSource]) -> list[ParsedSource]:
    """Turn the raw records of parsed files into events, each format's files in one pass."""
    out = list(parsed)
    for parser in PARSERS:
        mine = [i for i, p in enumerate(out) if p.source_format in parser.formats]
        if mine:
            for i, normalized in zip(mine, parser.normalize([out[i] for i in mine]), strict=True):
                out[i] = normalized
    return out


def chunking(fmt: SourceFormat) -> Chunking | None:
    """How `fmt` is read chunk by chunk, or None when it is always parsed whole."""
    return parser_for(fmt).chunking(fmt)


def chunk_parser(
    fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
) -> ChunkParser:
    """A parser for one file of `fmt` read in chunks."""
    return parser_for(fmt).chunk_parser(fmt, uri, written_at, options)
