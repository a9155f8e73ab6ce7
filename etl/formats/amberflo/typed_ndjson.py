"""Large Amberflo NDJSON exports typed by DuckDB in the warehouse's own connection, in one pass
(the NDJSON side of etl.formats.amberflo.duckdb_csv).

DuckDB reads the file as lines (a blank line is a NULL row, so every row keeps its line
number; a carriage return makes DuckDB refuse the file, which then streams in chunks). A
*plain* line matches one pattern (`_PLAIN_LINE`): an object whose members are each an id that
is a JSON string of printable ASCII without escapes or surrounding blanks, a meterValue and a
meterTimeInMillis that are plain numbers or strings of them, or dimensions that are null or an
object of unescaped string values; and decoded, it has every Amberflo field exactly once, at
most 64 distinct dimension keys and 1024 characters of dimensions. Only such lines are decoded
and typed in SQL, their dimensions put in key order as every reader stores them. Every other
line (a null or missing id, a negative or odd number, a nested value, a repeated key, broken
JSON, a blank line) keeps its text and is parsed by the chunked reader's own code, with the
other such lines, and normalized like any chunk.

Numbers are compared by value: DuckDB renders a JSON number as the double it reads, which is
the number's exact value for the at most 15 digits the pattern lets a plain number have (a
longer one is decided by the chunked reader, whose exact reader takes its text).
"""

from __future__ import annotations

import json

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, A
from etl.formats.amberflo.duckdb_csv import TypedPlan, map_of_values, typed_columns
from etl.formats.amberflo.normalize import MIN_EVENT_MS
from etl.formats.amberflo.parse import parse_amberflo_ndjson
from etl.formats.amberflo.records import (
    MAX_DIMENSION_KEY,
    MAX_DIMENSION_VALUE,
    MAX_DIMENSIONS,
    RawBatch,
)
from etl.sources.streams import UTF8_BOM

_FIELDS = json.dumps({name: "JSON" for name in (*AMBERFLO_FIELDS, A.dimensions)})
_FIELDS_BUT_DIMENSIONS = json.dumps({name: "JSON" for name in AMBERFLO_FIELDS})

# A plain line is one object whose members, in any order and with at most one blank after a
# colon or a comma, are each one of these (a repeated or missing field fails the strict
# transform after it):
# - an id: a JSON string of printable ASCII without a quote, a backslash or a blank at either
#   end (no escape, nothing to normalize);
_CHAR = r"[!#-\[\]-~]"
_STRING = f'"{_CHAR}([ !#-\\[\\]-~]*{_CHAR})?"'
# - meterValue: a JSON string of at most 20 integer digits and 12 decimals, or a JSON number
#   of at most 15 digits in all (its double is exact: DuckDB reads JSON numbers as doubles
#   and renders them back in their shortest form), without leading zeros;
_DIGITS = 15
_NUMBER = "|".join(
    ["0", f"[1-9][0-9]{{0,{_DIGITS - 1}}}", "0[.][0-9]{1,12}"]
    + [f"[1-9][0-9]{{{n - 1}}}[.][0-9]{{1,{min(12, _DIGITS - n)}}}" for n in range(1, _DIGITS)]
)
_VALUE = f'{_NUMBER}|"[0-9]{{1,20}}([.][0-9]{{1,12}})?"'
# - meterTimeInMillis: 12 or 13 digits, a number or a string;
_MILLIS = '[1-9][0-9]{11,12}|"[0-9]{12,13}"'
# - dimensions: null, or an object of string values, neither keys nor values escaped.
_TEXT = '[^"\\\\\\x00-\\x1f]'
_PAIR = f'"{_TEXT}{{1,{MAX_DIMENSION_KEY}}}": ?"{_TEXT}*"'
_DIMENSIONS = f"null|\\{{({_PAIR}(, ?{_PAIR})*)?\\}}"
_MEMBER = "|".join(
    f'"{name}": ?({pattern})'
    for name, pattern in [
        (A.customerId, _STRING),
        (A.meterApiName, _STRING),
        (A.uniqueId, _STRING),
        (A.meterValue, _VALUE),
        (A.meterTimeInMillis, _MILLIS),
        (A.dimensions, _DIMENSIONS),
    ]
)
_PLAIN_LINE = f"\\{{({_MEMBER})(, ?({_MEMBER}))*\\}}"


def _text(field: str) -> str:
    """A plain JSON string's or number's text, without quotes."""
    return f"trim(r.{field}, '\"')"


def ndjson_plan(first: bytes) -> TypedPlan | None:
    """The plan for a large Amberflo NDJSON export; None for one that starts with a BOM."""
    if first.startswith(UTF8_BOM):
        return None
    # Only a line of plain members is decoded; each field exactly once (a repeated key fails
    # the strict transform: not plain), a line without `dimensions` at all has none.
    # DuckDB reads a blank line as NULL (its row kept) and refuses a carriage return.
    read = (
        "(SELECT line, CASE WHEN regexp_full_match(line, '" + _PLAIN_LINE + "') THEN "
        "coalesce(try(json_transform_strict(line, '" + _FIELDS + "')), "
        "CASE WHEN NOT contains(line, '\"dimensions\"') THEN struct_insert(try("
        "json_transform_strict(line, '"
        + _FIELDS_BUT_DIMENSIONS
        + "')), dimensions := NULL::JSON) END) END AS r "
        "FROM read_csv(?, columns = {'line': 'VARCHAR'}, header = false, auto_detect = false, "
        "delim = '\\x01', quote = '', escape = '', new_line = '\\n', strict_mode = true, "
        "encoding = 'utf-8'))"
    )
    # At most 64 keys, each once (a repeated key fails the MAP), within 1024 characters in
    # all (so every value is within the limit); anything else is decided by the chunked reader.
    dims = (
        f"(r.{A.dimensions} IS NULL OR (length(r.{A.dimensions}) <= {MAX_DIMENSION_VALUE} "
        f"AND cardinality(try(json_transform_strict(r.{A.dimensions}, '\"MAP(VARCHAR, VARCHAR)\"'))) "
        f"<= {MAX_DIMENSIONS}))"
    )
    plain = " AND ".join(
        [
            "r IS NOT NULL",
            f"length(r.{A.customerId}) <= 512 + 2",
            f"length(r.{A.meterApiName}) <= 256 + 2",
            f"length(r.{A.uniqueId}) <= 512 + 2",
            f"TRY_CAST({_text(A.meterTimeInMillis)} AS BIGINT) BETWEEN {MIN_EVENT_MS} AND ?::BIGINT",
            dims,
        ]
    )
    sorted_entries = (
        f"CASE WHEN r.{A.dimensions} IS NULL THEN MAP {{}}::MAP(VARCHAR, VARCHAR) ELSE "
        f"map_from_entries(list_sort(map_entries(json_transform_strict(r.{A.dimensions}, "
        "'\"MAP(VARCHAR, VARCHAR)\"')))) END"
    )

    def typed(dimensions: str, unit: str | None) -> str:
        return typed_columns(
            "amberflo_ndjson",
            customer=_text(A.customerId),
            meter=_text(A.meterApiName),
            unique=_text(A.uniqueId),
            value=_text(A.meterValue),
            millis=_text(A.meterTimeInMillis),
            dimensions=dimensions,
            unit=unit,
        )

    return TypedPlan(
        read=read,
        plain=plain,
        typed=typed(sorted_entries, f"json_extract_string(r.{A.dimensions}, '$.unit')"),
        longest_dimension="0",
        leftover="rowid + 1 AS source_row, coalesce(line, '') AS line",
        leftover_batch=_leftover_lines,
        # A plain line's text is not needed again: only the others keep theirs.
        kept="CASE WHEN _plain THEN NULL ELSE line END AS line, CASE WHEN _plain THEN r END AS r",
        dimension_keys=f"json_keys(r.{A.dimensions})",
        typed_for_keys=lambda names: typed(
            _dimensions_in_key_order(names),
            f'{_fields_of(names)}."unit"' if "unit" in names else None,
        ),
    )


def _dimensions_in_key_order(names: list[str]) -> str:
    """The MAP of a plain row's dimensions with its keys in order, for a file whose keys are
    all among `names` (sorted): each row's object read once as a struct of every key, and
    its present keys written back in that order (`map_of_values`). Not under a CASE: DuckDB
    reads the struct once only where it can share it."""
    fields = _fields_of(names)
    return map_of_values([(name, f'{fields}."{name}"') for name in names])


def _fields_of(names: list[str]) -> str:
    """A plain row's dimensions as a struct of every one of `names` (NULL where absent)."""
    struct = json.dumps({name: "VARCHAR" for name in names})
    return f"json_transform(r.{A.dimensions}, '{struct}')"


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
