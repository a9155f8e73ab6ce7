"""Raw Amberflo records as every reader returns them, and the checks each record gets.

Every reader returns the raw records (scalars still text, see contracts.amberflo) plus the
rows it could not read at all. `source_row` is 1-based: the element number of a JSON array,
the line number of an NDJSON file, the data-row number of a CSV file (header excluded).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, RAW_SCHEMA, A
from contracts.meter_event import REJECT_SCHEMA
from etl.formats.detect import strip_bom

AMBERFLO_CSV_REQUIRED = frozenset({"customerId", "meterApiName", "meterValue", "meterTimeInMillis"})
"""The header columns that make a CSV file an Amberflo export."""
MAX_DIMENSIONS = 64
"""Most dimensions one record may carry."""
MAX_DIMENSION_KEY = 128
"""Longest dimension key, in characters."""
MAX_DIMENSION_VALUE = 1024
"""Longest dimension value, in characters."""
RAW_PREVIEW = 4096
"""How much of a record's raw text is kept with it (and with its reject)."""


@dataclass(frozen=True)
class RawBatch:
    """What a parser read from one file: raw records and unreadable rows."""

    records: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int


class RowError(Exception):
    """One record breaks a read rule: the column, the rule's name and the reason."""

    def __init__(self, column: str | None, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.rule = rule
        self.reason = reason


def scalar_text(value: Any, column: str) -> str | None:
    """A decoded JSON scalar as text (raises RowError for an object or an array)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    kind = "an object" if isinstance(value, dict) else "an array"
    raise RowError(
        column, f"amberflo.{column}.scalar", f"{column} is {kind}, expected a single value"
    )


def dimension_entries(value: Any) -> list[dict[str, str]]:
    """A record's dimensions as key/value entries sorted by key (raises RowError when they
    break the limits)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise RowError(
            "dimensions",
            "amberflo.dimensions.map",
            "dimensions must be a JSON object of string values",
        )
    if len(value) > MAX_DIMENSIONS:
        raise RowError(
            "dimensions",
            "amberflo.dimensions.size",
            f"dimensions has {len(value)} keys, more than the limit of {MAX_DIMENSIONS}",
        )
    entries = []
    for key, raw in value.items():
        if raw is None:
            continue
        if isinstance(raw, dict | list):
            raise RowError(
                "dimensions",
                "amberflo.dimensions.scalar",
                f"dimension {key[:MAX_DIMENSION_KEY]!r} holds {'an object' if isinstance(raw, dict) else 'an array'}, "
                "expected a string",
            )
        text = scalar_text(raw, "dimensions") or ""
        if not key or len(key) > MAX_DIMENSION_KEY or len(text) > MAX_DIMENSION_VALUE:
            raise RowError(
                "dimensions",
                "amberflo.dimensions.length",
                f"dimension key must be 1..{MAX_DIMENSION_KEY} characters and its value at most "
                f"{MAX_DIMENSION_VALUE} (key {key[:40]!r}, value of {len(text)} characters)",
            )
        entries.append({"key": key, "value": text})
    entries.sort(key=lambda e: e["key"])
    return entries


class Collector:
    """Records and rejects of one file, gathered row by row by the exact readers."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.columns: dict[str, list[Any]] = {name: [] for name in RAW_SCHEMA}
        self.rejects: dict[str, list[Any]] = {name: [] for name in REJECT_SCHEMA}
        self.rows_in = 0

    def reject(self, row: int, column: str | None, rule: str, reason: str, raw: str) -> None:
        """Reject source row `row` (`raw`: its text)."""
        self.rejects["source_uri"].append(self.uri)
        self.rejects["source_row"].append(row)
        self.rejects["column_name"].append(column)
        self.rejects["rule"].append(rule)
        self.rejects["reason"].append(reason)
        self.rejects["raw_record"].append(raw[:RAW_PREVIEW])

    def add_json(self, row: int, record: Any, raw: str) -> None:
        """Add a decoded JSON record (or reject it)."""
        self.rows_in += 1
        if has_bad_bytes(raw):
            self.reject(
                row,
                None,
                "amberflo.encoding",
                "record is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
                raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            )
            return
        if _SURROGATE_ESCAPE.search(raw) and _has_surrogate(record):
            self.reject(
                row,
                None,
                "amberflo.encoding",
                "record holds a \\uD800-\\uDFFF escape that is not a valid character "
                "(a lone UTF-16 surrogate); fix the producer's JSON encoder",
                raw,
            )
            return
        if not isinstance(record, dict):
            self.reject(row, None, "amberflo.record.object", "record is not a JSON object", raw)
            return
        try:
            values = [scalar_text(record.get(name), name) for name in AMBERFLO_FIELDS]
            dims = dimension_entries(record.get("dimensions"))
        except RowError as err:
            self.reject(row, err.column, err.rule, err.reason, raw)
            return
        self.append(row, values, dims, raw)

    def append(
        self, row: int, values: list[str | None], dims: list[dict[str, str]], raw: str
    ) -> None:
        """Add a checked record: its Amberflo field values (in AMBERFLO_FIELDS order) and
        dimension entries."""
        for name, value in zip(AMBERFLO_FIELDS, values, strict=True):
            self.columns[name].append(value)
        self.columns[A.dimensions].append(dims)
        self.columns[A.source_row].append(row)
        self.columns[A.raw_record].append(raw[:RAW_PREVIEW])

    def batch(self) -> RawBatch:
        """What was gathered."""
        return RawBatch(
            records=pl.DataFrame(self.columns, schema=RAW_SCHEMA),
            rejects=pl.DataFrame(self.rejects, schema=REJECT_SCHEMA),
            rows_in=self.rows_in,
        )


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """True if a decoded JSON value holds a lone surrogate (from a `\\ud800` escape)."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def loads_json(text: str) -> Any:
    """One JSON record, its numbers kept as text."""
    # Numbers stay text so meterValue never passes through float; NaN/Infinity stay
    # recognisable so normalization can reject them by name.
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


def decode(data: bytes) -> str:
    """A file's text; undecodable bytes survive as surrogates (see `has_bad_bytes`)."""
    return strip_bom(data).decode("utf-8", errors="surrogateescape")


# surrogateescape turns each undecodable byte into one of these; a regex scans at C speed
# (a per-character Python loop took over a minute on a 200 MB line).
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def has_bad_bytes(text: str) -> bool:
    """True if `decode` met bytes that are not UTF-8 in `text`."""
    return _BAD_BYTE.search(text) is not None


def raw_frame(base: pl.DataFrame, dims: pl.Series) -> pl.DataFrame:
    """Records read by a vectorized reader in the raw-record schema, numbered from 1."""
    return (
        base.lazy()
        .select(
            *[
                (
                    pl.col(name).cast(pl.String)
                    if name in base.columns
                    else pl.lit(None, dtype=pl.String)
                ).alias(name)
                for name in AMBERFLO_FIELDS
            ],
            pl.lit(dims).alias(A.dimensions),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(A.source_row),
            pl.lit(None, dtype=pl.String).alias(A.raw_record),
        )
        .cast(RAW_SCHEMA)
        .collect()
    )
