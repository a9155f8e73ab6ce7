"""What every input format offers the ingest job: a parser object behind one small base class.

The registry (etl.formats.registry) holds one parser per format family (Amberflo, FOCUS, ...);
the job asks it which format an object holds, then lets that format's parser turn the bytes
into events and rejects, whole or chunk by chunk. Modelled on dlt's items normalizers (one
normalizer per input format behind a small base class).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl

from contracts.meter_event import EVENT_SCHEMA, REJECT_SCHEMA

SourceFormat = Literal[
    "amberflo_json", "amberflo_ndjson", "amberflo_csv", "focus_csv", "focus_parquet", "prometheus"
]
"""Every format an object can hold, told apart by content (etl.formats.registry.sniff_format)."""


@dataclass(frozen=True)
class PrometheusBatch:
    """What one landed remote-write object contributes (etl.formats.prometheus): its samples
    of mapped metrics (contracts.prometheus.SAMPLE_SCHEMA), their series' meters, the sample
    counts of unmapped metrics and how many samples were rejected."""

    samples: pl.DataFrame
    series: pl.DataFrame
    unmapped: pl.DataFrame
    rejected: int


@dataclass(frozen=True)
class ParsedSource:
    """A parsed file (or one chunk of it).

    Amberflo files arrive as raw `records` (with their file, see
    etl.formats.amberflo.normalize.with_source) that `normalize_parsed` turns into events for a
    whole group of files at once; FOCUS files arrive normalized, with their typed line items and
    the export (`delivery_key`) whose billing periods they replace.
    """

    source_format: SourceFormat | None
    rows_in: int
    events: pl.DataFrame
    rejects: pl.DataFrame
    focus_line_items: pl.DataFrame | None = None
    records: pl.DataFrame | None = None
    delivery_key: str | None = None
    focus_findings: pl.DataFrame | None = None
    """FOCUS files: conformance findings of the kept rows (contracts.focus_conformance)."""
    focus_amounts: pl.DataFrame | None = None
    """FOCUS files: every row's currency and cost text, for reconciliation."""
    prometheus: PrometheusBatch | None = None


def no_rows(source_format: SourceFormat | None) -> ParsedSource:
    """A file that held no records: empty events and rejects."""
    return ParsedSource(
        source_format, 0, pl.DataFrame(schema=EVENT_SCHEMA), pl.DataFrame(schema=REJECT_SCHEMA)
    )


@dataclass(frozen=True)
class ParseOptions:
    """What parsing needs besides the bytes (from etl.settings.Settings)."""

    focus_customer_from: str = "SubAccountId"
    """The FOCUS column that names an event's customer (METERHOUSE_FOCUS_CUSTOMER_FROM)."""
    prometheus_mapping: Path | None = None
    """The Prometheus mapping file (METERHOUSE_PROMETHEUS_MAPPING); None: nothing is mapped."""


@dataclass(frozen=True)
class Chunking:
    """How a format is read chunk by chunk: where its records end and how wide they are."""

    framing: Literal["csv", "lines"]
    """`csv`: records end at a newline outside quotes, the header repeats in every chunk, rows
    are numbered among data rows; `lines`: one record per line, rows numbered by line."""
    wide: bool = False
    """Wide rows (FOCUS): chunks are sized by METERHOUSE_FOCUS_CHUNK_ROWS and a file of more
    rows than that is read in chunks even when its bytes fit in one."""


class ChunkParser(ABC):
    """Parses one large file chunk by chunk; holds what must carry from chunk to chunk."""

    @abstractmethod
    def empty(self) -> ParsedSource:
        """The file before any chunk: its format, delivery key and empty frames."""

    @abstractmethod
    def parse(self, data: bytes, offset: int) -> ParsedSource:
        """One chunk of whole records, source rows numbered from `offset`.

        Amberflo chunks come back as raw `records` plus read rejects; `normalize` makes events.
        """

    def normalize(self, parsed: ParsedSource) -> tuple[ParsedSource, pl.DataFrame]:
        """A parsed chunk's raw records -> events; returns the chunk and its read rejects."""
        return parsed, parsed.rejects.clear()


class FormatParser(ABC):
    """One format family: how to recognise it and how to parse it."""

    formats: tuple[SourceFormat, ...] = ()
    """The formats this parser handles."""

    def sniff_content(self, data: bytes, uri: str) -> SourceFormat | None:
        """The format, when the first bytes tell (magic bytes, an opening bracket); else None.

        May raise FormatError when the object claims this format (by its name) but is not.
        """
        return None

    def sniff_header(self, columns: Sequence[str]) -> SourceFormat | None:
        """The format, when the first line of a CSV object (`columns`) tells; else None."""
        return None

    @abstractmethod
    def parse(
        self, data: bytes, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ParsedSource:
        """Decompressed bytes of one whole object -> events (or raw records) and rejects."""

    def normalize(self, parsed: Sequence[ParsedSource]) -> list[ParsedSource]:
        """Turn the raw records of parsed files into events (one pass for a group of files)."""
        return list(parsed)

    def chunking(self, fmt: SourceFormat) -> Chunking | None:
        """How `fmt` is read chunk by chunk, or None when it is always parsed whole."""
        return None

    def chunk_parser(
        self, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ChunkParser:
        """A parser for one file of `fmt` read in chunks (only for formats with `chunking`)."""
        raise NotImplementedError(f"{fmt} objects are parsed whole, not in chunks")
