"""Large Amberflo NDJSON exports typed by DuckDB in the warehouse's own connection, in one pass
(the NDJSON side of etl.formats.amberflo.duckdb_csv).

DuckDB reads the file as lines (their text kept: a line that is not plain goes to the chunked
reader as written) and decodes each as an object that must have every Amberflo field exactly
once (and `dimensions` once, or not at all). A *plain* line has ids that are JSON strings of
printable ASCII without escapes or surrounding blanks, a meterValue and a meterTimeInMillis
that are plain numbers or strings of them, and dimensions that are null or an object of at
most 64 distinct keys with string values, 1024 characters in all; it is typed in SQL, its
dimensions sorted by key as every reader stores them. Every other line (a null or missing id, a negative or odd
number, a nested value, a repeated key, broken JSON) is parsed by the chunked reader's own
code, with the other such lines, and normalized like any chunk.

Numbers are compared by value: DuckDB renders a JSON number as the double it reads, which is
the number's exact value for the at most 15 significant digits a file may hold here (a file
with a longer run of digits outside strings, a blank line or a carriage return streams in
chunks, as `fast_json` leaves such files to the exact reader).
"""

from __future__ import annotations

import json

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, A
from etl.formats.amberflo.duckdb_csv import TypedPlan, every_chunk, typed_columns
from etl.formats.amberflo.fast import has_long_number_or_blank_line
from etl.formats.amberflo.normalize import MIN_EVENT_MS
from etl.formats.amberflo.parse import parse_amberflo_ndjson
from etl.formats.amberflo.records import (
    MAX_DIMENSION_KEY,
    MAX_DIMENSION_VALUE,
    MAX_DIMENSIONS,
    RawBatch,
)

_FIELDS = json.dumps({name: "JSON" for name in (*AMBERFLO_FIELDS, A.dimensions)})
_FIELDS_BUT_DIMENSIONS = json.dumps({name: "JSON" for name in AMBERFLO_FIELDS})
# A JSON string of printable ASCII without a quote, a backslash or a blank at either end.
_CHAR = r"[!#-\[\]-~]"
_STRING = f'"{_CHAR}([ !#-\\[\\]-~]*{_CHAR})?"'
_PLAIN_STRING = "regexp_full_match(r.{0}, '{1}') AND length(r.{0}) <= {2} + 2"
# A plain quantity or epoch, as a JSON number or a JSON string.
_NUMBER = "regexp_full_match(r.{0}, '{1}|\"{1}\"')"
# Dimensions without escapes, nulls or nesting: "key":"value" pairs within the limits.
_PAIR = f'"[^"\\\\]{{1,{MAX_DIMENSION_KEY}}}":"[^"\\\\]*"'
_DIMENSIONS = f"\\{{({_PAIR}(,{_PAIR})*)?\\}}"


def _text(field: str) -> str:
    """A plain JSON string's or number's text, without quotes."""
    return f"trim(r.{field}, '\"')"


def ndjson_plan(first: bytes) -> TypedPlan:
    """The plan for a large Amberflo NDJSON export."""
    del first  # every NDJSON export has the same plan
    # Each field exactly once (a repeated key fails the strict transform: not plain); a line
    # without `dimensions` at all has none.
    read = (
        "(SELECT line, coalesce(try(json_transform_strict(line, '" + _FIELDS + "')), "
        "CASE WHEN NOT contains(line, '\"dimensions\"') THEN struct_insert(try("
        "json_transform_strict(line, '" + _FIELDS_BUT_DIMENSIONS + "')), dimensions := NULL::JSON) END) AS r "
        "FROM read_csv(?, columns = {'line': 'VARCHAR'}, header = false, auto_detect = false, "
        "delim = '\\x01', quote = '', escape = '', new_line = '\\n', strict_mode = true, "
        "encoding = 'utf-8'))"
    )
    value = _NUMBER.format(A.meterValue, "[0-9]{1,20}([.][0-9]{1,12})?")
    millis = _NUMBER.format(A.meterTimeInMillis, "[0-9]{12,13}")
    # Dimensions of at most 64 keys, each once, within 1024 characters in all (so every value
    # is within the limit); anything else is decided by the chunked reader.
    keys = f"json_keys(r.{A.dimensions})"
    dims = (
        f"(r.{A.dimensions} IS NULL OR (regexp_full_match(r.{A.dimensions}, '{_DIMENSIONS}') "
        f"AND length(r.{A.dimensions}) <= {MAX_DIMENSION_VALUE} AND len({keys}) <= {MAX_DIMENSIONS} "
        f"AND len({keys}) = len(list_distinct({keys}))))"
    )
    plain = " AND ".join(
        [
            "r IS NOT NULL",
            _PLAIN_STRING.format(A.customerId, _STRING, 512),
            _PLAIN_STRING.format(A.meterApiName, _STRING, 256),
            _PLAIN_STRING.format(A.uniqueId, _STRING, 512),
            f"({value})",
            f"({millis})",
            f"TRY_CAST({_text(A.meterTimeInMillis)} AS BIGINT) BETWEEN {MIN_EVENT_MS} AND ?::BIGINT",
            dims,
        ]
    )
    dimensions = (
        f"CASE WHEN r.{A.dimensions} IS NULL THEN MAP {{}}::MAP(VARCHAR, VARCHAR) "
        f"ELSE map_from_entries(list_sort(map_entries(json_transform_strict(r.{A.dimensions}, "
        "'\"MAP(VARCHAR, VARCHAR)\"')))) END"
    )
    unit = f"json_extract_string(r.{A.dimensions}, '$.unit')"
    return TypedPlan(
        read=read,
        plain=plain,
        typed=typed_columns(
            "amberflo_ndjson",
            customer=_text(A.customerId),
            meter=_text(A.meterApiName),
            unique=_text(A.uniqueId),
            value=_text(A.meterValue),
            millis=_text(A.meterTimeInMillis),
            dimensions=dimensions,
            unit=unit,
        ),
        longest_dimension="0",
        leftover="rowid + 1 AS source_row, line",
        leftover_batch=_leftover_lines,
        # A plain line's text is not needed again: only the others keep theirs.
        kept="CASE WHEN _plain THEN NULL ELSE line END AS line, r",
    )


def _leftover_lines(frame: pl.DataFrame, uri: str) -> RawBatch:
    """Lines that are not plain, read by the chunked reader, numbered by their line."""
    rows = frame.get_column(A.source_row)
    batch = parse_amberflo_ndjson(("\n".join(frame.get_column("line")) + "\n").encode(), uri)
    # The reader numbers the lines of its body from 1: back to the file's line numbers.
    return RawBatch(
        batch.records.with_columns(_renumbered(batch.records, rows)),
        batch.rejects.with_columns(_renumbered(batch.rejects, rows)),
        batch.rows_in,
    )


def _renumbered(frame: pl.DataFrame, rows: pl.Series) -> pl.Series:
    return rows.gather(frame.get_column(A.source_row) - 1).alias(A.source_row)


def clean_ndjson_file(path: str, uri: str, max_bytes: int) -> bool:
    """True when DuckDB reads the file at `path` line by line exactly as the chunked reader
    does: not gzip, no BOM, no carriage return, no blank line, no run of 16+ digits outside
    strings."""
    with open(path, "rb") as handle:
        if handle.read(3) == b"\xef\xbb\xbf":
            return False
    return every_chunk(
        path,
        uri,
        max_bytes,
        csv=False,
        check=lambda chunk: b"\r" not in chunk
        and not has_long_number_or_blank_line(chunk, lines=True),
    )
