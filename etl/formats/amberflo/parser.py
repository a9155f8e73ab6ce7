"""Amberflo meter records in the format registry: sniffing, whole files, chunks, normalization."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import polars as pl

from etl.formats.amberflo.normalize import (
    SOURCE_URI,
    normalize_meter_records,
    normalize_sources,
    with_source,
)
from etl.formats.amberflo.parse import (
    parse_amberflo_csv,
    parse_amberflo_json,
    parse_amberflo_ndjson,
)
from etl.formats.amberflo.records import AMBERFLO_CSV_REQUIRED, RawBatch
from etl.formats.base import (
    Chunking,
    ChunkParser,
    FormatParser,
    ParsedSource,
    ParseOptions,
    SourceFormat,
    no_rows,
)
from etl.formats.detect import strip_bom

_READERS: dict[SourceFormat, Callable[[bytes, str], RawBatch]] = {
    "amberflo_json": parse_amberflo_json,
    "amberflo_ndjson": parse_amberflo_ndjson,
    "amberflo_csv": parse_amberflo_csv,
}


class AmberfloParser(FormatParser):
    """Amberflo JSON arrays (whole), NDJSON and CSV (chunked when large).

    Files parse into raw records; `normalize` turns a whole group of files into events in one
    vectorized pass.
    """

    formats: tuple[SourceFormat, ...] = tuple(_READERS)

    def sniff_content(self, data: bytes, uri: str) -> SourceFormat | None:
        """A JSON array or a first JSON object (NDJSON)."""
        stripped = strip_bom(data).lstrip(b" \t\r\n")
        if stripped[:1] == b"[":
            return "amberflo_json"
        if stripped[:1] == b"{":
            return "amberflo_ndjson"
        return None

    def sniff_header(self, columns: Sequence[str]) -> SourceFormat | None:
        """A CSV whose header has the Amberflo fields."""
        return "amberflo_csv" if AMBERFLO_CSV_REQUIRED.issubset(set(columns)) else None

    def parse(
        self, data: bytes, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ParsedSource:
        """A whole file -> raw records (tagged with their file) and read rejects."""
        batch = _READERS[fmt](data, uri)
        return replace(
            no_rows(fmt),
            rows_in=batch.rows_in,
            rejects=batch.rejects,
            records=with_source(batch.records, uri, fmt, written_at),
        )

    def normalize(self, parsed: Sequence[ParsedSource]) -> list[ParsedSource]:
        """Normalize the raw records of many parsed files in one vectorized pass; each file gets
        its events and its rejects (read rejects first, in row order)."""
        raw = [p.records for p in parsed if p.records is not None]
        if not raw:
            return list(parsed)
        normalized = normalize_sources(pl.concat(raw) if len(raw) > 1 else raw[0])
        events = normalized.events.partition_by("source_uri", as_dict=True)
        rejects = normalized.rejects.partition_by("source_uri", as_dict=True)
        out = []
        for p in parsed:
            if p.records is None or not p.records.height:
                out.append(replace(p, records=None))
                continue
            uri = (p.records.get_column(SOURCE_URI)[0],)
            mine = pl.concat([p.rejects, rejects.get(uri, normalized.rejects.clear())])
            out.append(
                replace(
                    p,
                    events=events.get(uri, normalized.events.clear()),
                    rejects=mine.sort("source_row", nulls_last=True),
                    records=None,
                )
            )
        return out

    def chunking(self, fmt: SourceFormat) -> Chunking | None:
        """CSV and NDJSON stream; a JSON array is read whole."""
        if fmt == "amberflo_csv":
            return Chunking("csv")
        if fmt == "amberflo_ndjson":
            return Chunking("lines")
        return None

    def chunk_parser(
        self, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ChunkParser:
        """A CSV or NDJSON file read chunk by chunk."""
        return AmberfloChunks(fmt, uri, written_at)


class AmberfloChunks(ChunkParser):
    """One large CSV or NDJSON file, chunk by chunk; each chunk is normalized on its own."""

    def __init__(self, fmt: SourceFormat, uri: str, written_at: datetime) -> None:
        self.fmt = fmt
        self.uri = uri
        self.written_at = written_at

    def empty(self) -> ParsedSource:
        """No rows yet."""
        return no_rows(self.fmt)

    def parse(self, data: bytes, offset: int) -> ParsedSource:
        """One chunk -> raw records and read rejects, rows numbered from `offset`."""
        batch = _READERS[self.fmt](data, self.uri)
        shift = pl.col("source_row") + offset
        return replace(
            no_rows(self.fmt),
            rows_in=batch.rows_in,
            rejects=batch.rejects.with_columns(shift),
            records=batch.records.with_columns(shift),
        )

    def normalize(self, parsed: ParsedSource) -> tuple[ParsedSource, pl.DataFrame]:
        """The chunk's records -> events and rule rejects; the read rejects come back apart."""
        assert parsed.records is not None
        normalized = normalize_meter_records(
            parsed.records,
            source_uri=self.uri,
            source_format=self.fmt,
            written_at=self.written_at,
        )
        return (
            ParsedSource(self.fmt, parsed.rows_in, normalized.events, normalized.rejects),
            parsed.rejects,
        )
