"""FOCUS in the format registry: sniffing, whole files (CSV, Parquet) and CSV chunk by chunk."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import polars as pl

from contracts.focus import FOCUS_LINE_ITEM_SCHEMA
from contracts.focus_conformance import FINDING_SCHEMA, SOURCE_AMOUNT_SCHEMA
from etl.errors import FormatError
from etl.formats.base import (
    Chunking,
    ChunkParser,
    FormatParser,
    ParsedSource,
    ParseOptions,
    SourceFormat,
    no_rows,
)
from etl.formats.detect import PARQUET_MAGIC
from etl.formats.focus.events import RowKeyCounts
from etl.formats.focus.header import focus_delivery_key, is_focus_header
from etl.formats.focus.parse import FocusParseResult, parse_focus, parse_focus_text

# The ingest's logger, as before the formats had packages: operators filter on it.
log = logging.getLogger("meterhouse.pipeline")


def _parse(
    data: bytes | pl.DataFrame,
    fmt: SourceFormat,
    uri: str,
    options: ParseOptions,
    seen: RowKeyCounts | None = None,
    warned: set[str] | None = None,
) -> FocusParseResult:
    """Parse (bytes, or a CSV already read as text) and log; with `warned` (a large file's
    chunks), each finding's rule is logged for the first chunk that has it only (the file's
    totals per rule are in the ingest summary)."""
    if isinstance(data, pl.DataFrame):
        result = parse_focus_text(data, uri, customer_from=options.focus_customer_from, seen=seen)
    else:
        result = parse_focus(
            data,
            uri,
            kind="csv" if fmt == "focus_csv" else "parquet",
            customer_from=options.focus_customer_from,
            seen=seen,
        )
    for note in result.normalizations:
        log.info(
            "step=normalize source=%s focus_version=%s note=%s", uri, result.focus_version, note
        )
    for warning in result.warnings:
        if warned is not None:
            rule = warning.split(":", 1)[0]
            if rule in warned:
                continue
            warned.add(rule)
            warning += " in this chunk; later chunks are counted in the file's summary only"
        log.warning(
            "step=validate source=%s focus_version=%s warning=%s",
            uri,
            result.focus_version,
            warning,
        )
    return result


class FocusParser(FormatParser):
    """FOCUS 1.0-1.3 cost-and-usage exports: CSV (chunked when large) and Parquet (whole)."""

    formats: tuple[SourceFormat, ...] = ("focus_csv", "focus_parquet")

    def sniff_content(self, data: bytes, uri: str) -> SourceFormat | None:
        """Parquet by its magic bytes; a `.parquet` key without them is refused."""
        if data.startswith(PARQUET_MAGIC):
            return "focus_parquet"
        if uri.lower().endswith((".parquet", ".parquet.gz")):
            raise FormatError(
                f"{uri}: named .parquet but is not a Parquet file (no PAR1 magic); re-export it"
            )
        return None

    def sniff_header(self, columns: Sequence[str]) -> SourceFormat | None:
        """A CSV whose header names enough mandatory FOCUS columns."""
        return "focus_csv" if is_focus_header(columns) else None

    def parse(
        self, data: bytes, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ParsedSource:
        """A whole FOCUS file -> line items, events and rejects."""
        result = _parse(data, fmt, uri, options)
        return ParsedSource(
            fmt,
            result.rows_in,
            result.events,
            result.rejects,
            result.line_items,
            delivery_key=focus_delivery_key(uri),
            focus_findings=result.findings,
            focus_amounts=result.amounts,
        )

    def chunking(self, fmt: SourceFormat) -> Chunking | None:
        """FOCUS CSV: CSV records, wide rows; Parquet is read whole."""
        return Chunking("csv", wide=True) if fmt == "focus_csv" else None

    def chunk_parser(
        self, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ChunkParser:
        """A FOCUS CSV file read chunk by chunk."""
        return FocusChunks(fmt, uri, options)


class FocusChunks(ChunkParser):
    """One FOCUS CSV file, chunk by chunk: identical rows keep their file-wide position among
    equals across chunks (RowKeyCounts), so event ids match a whole-file parse."""

    def __init__(self, fmt: SourceFormat, uri: str, options: ParseOptions) -> None:
        self.fmt = fmt
        self.uri = uri
        self.options = options
        self.seen = RowKeyCounts()
        self.warned: set[str] = set()

    def empty(self) -> ParsedSource:
        """No rows yet, an empty line-item frame and the file's delivery key."""
        return replace(
            no_rows(self.fmt),
            focus_line_items=pl.DataFrame(schema=FOCUS_LINE_ITEM_SCHEMA),
            delivery_key=focus_delivery_key(self.uri),
            focus_findings=pl.DataFrame(schema=FINDING_SCHEMA),
            focus_amounts=pl.DataFrame(schema=SOURCE_AMOUNT_SCHEMA),
        )

    def parse(self, data: bytes, offset: int) -> ParsedSource:
        """One chunk -> line items, events and rejects, source rows numbered from `offset`."""
        return self._parsed(data, pl.col("source_row") + offset)

    def parse_rows(self, rows: pl.DataFrame) -> ParsedSource:
        """Rows of the file already read as text (column `source_row`, their place in the
        file, in file order, then one String column per header cell) -> line items, events
        and rejects, as a chunk of them would be parsed."""
        places = rows.get_column("source_row")
        return self._parsed(
            rows.drop("source_row"), pl.lit(places).gather(pl.col("source_row") - 1)
        )

    def _parsed(self, data: bytes | pl.DataFrame, shift: pl.Expr) -> ParsedSource:
        result = _parse(data, self.fmt, self.uri, self.options, self.seen, self.warned)
        return ParsedSource(
            self.fmt,
            result.rows_in,
            result.events.with_columns(shift),
            result.rejects.with_columns(shift),
            result.line_items.with_columns(shift),
            focus_findings=result.findings.with_columns(shift),
            focus_amounts=result.amounts.with_columns(shift),
        )
