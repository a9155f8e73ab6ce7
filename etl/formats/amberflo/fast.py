"""Vectorized readers: clean Amberflo files (the overwhelming majority) read by polars in one call.

Whenever a file has anything a vectorized reader could get subtly wrong (a number with more
digits than a float keeps, NaN, a blank line, a quoted CSV field, a ragged row, odd
dimensions), it returns None and the record-by-record reader (etl.formats.amberflo.exact)
handles the file with exact, per-row rejects. Both paths give the same records for the same
clean input.
"""

from __future__ import annotations

import io
import re

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, A
from contracts.meter_event import DIMENSIONS, REJECT_SCHEMA
from etl.formats.amberflo.duckdb_ndjson import duckdb_ndjson
from etl.formats.amberflo.records import (
    MAX_DIMENSION_KEY,
    MAX_DIMENSION_VALUE,
    MAX_DIMENSIONS,
    RawBatch,
    raw_frame,
)
from etl.formats.detect import strip_bom

# 16+ digits in a row in a number (the JSON readers hold numbers as float64, exact only to
# ~15 digits) and blank lines (they would shift line numbers) are found in C-speed passes (a
# regex scan took a third of the reader's time): digits and dots become "0", quotes,
# backslashes and newlines stay, spaces, tabs and carriage returns go, everything else
# becomes "x". Runs joined across removed spaces only send a file to the exact reader
# needlessly, never the other way round. Digits inside strings are text to every reader
# (ids such as uuid4 hex have 16+ digits in a row about 1% of the time), so a run only
# counts where an even number of quotes precede it on its line.
_SHAPE = bytes(
    ord("0") if chr(c) in "0123456789." else c if chr(c) in '\n"\\' else ord("x")
    for c in range(256)
)
_LONG_RUN = b"0" * 16


def _long_run_outside_strings(shape: bytes) -> bool:
    if b'\\"' in shape:
        # Escapes read left to right: an escaped backslash first, then an escaped quote, is
        # never a string's end. Outside strings a backslash is a syntax error the readers refuse.
        shape = shape.replace(b"\\\\", b"xx").replace(b'\\"', b"xx")
    start = mark = quotes = 0
    while (run := shape.find(_LONG_RUN, start)) >= 0:
        # A JSON string never holds a raw newline: every line starts outside strings, so a
        # line with broken quoting cannot hide a number on the lines after it.
        newline = shape.rfind(b"\n", mark, run)
        if newline >= 0:
            mark, quotes = newline + 1, 0
        quotes += shape.count(b'"', mark, run)
        if quotes % 2 == 0:
            return True
        mark = start = run + len(_LONG_RUN)
    return False


def has_long_number_or_blank_line(body: bytes, *, lines: bool) -> bool:
    shape = body.translate(_SHAPE, b" \t\r")
    if _LONG_RUN in shape and _long_run_outside_strings(shape):
        return True
    if not lines:
        return False
    # A blank line before the last record (trailing ones shift nothing); searched in place,
    # never copying the body again.
    blank = 0 if shape.startswith(b"\n") else shape.find(b"\n\n")
    return blank >= 0 and bool(shape[blank:].strip(b"\n"))


QUOTED_FIELD = re.compile(rb'"(?:[^"]|"")*"')
_SCALAR_TYPES = (pl.String, pl.Int64, pl.Boolean, pl.Null)


def kv_series(frame: pl.DataFrame, pairs: list[tuple[str, pl.Expr]]) -> tuple[pl.Series, int]:
    """Per row, the sorted key/value structs of the non-null values among `pairs`, and the
    longest value seen.

    Built long-form (unpivot, drop nulls, group back) because concatenating struct lists
    row by row is an order of magnitude slower in polars.
    """
    rows = frame.height
    if not pairs or rows == 0:
        return pl.Series(A.dimensions, [[]] * rows, dtype=DIMENSIONS), 0
    # One query for both results (each query costs ~1 ms of planning on a small frame).
    wide = (
        frame.lazy()
        .select([expr.cast(pl.String).alias(key) for key, expr in pairs])
        .with_row_index("_row")
    )
    long = wide.unpivot(index="_row", variable_name="key", value_name="value").drop_nulls("value")
    grouped = (
        long.sort("_row", "key")
        .group_by("_row", maintain_order=True)
        .agg(pl.struct("key", "value").alias(A.dimensions))
    )
    dims, longest = pl.collect_all(
        [
            wide.select("_row")
            .join(grouped, on="_row", how="left", maintain_order="left")
            .select(pl.col(A.dimensions).fill_null(pl.lit([], dtype=DIMENSIONS)).cast(DIMENSIONS)),
            long.select(pl.col("value").str.len_chars().max()),
        ]
    )
    return dims.get_column(A.dimensions), int(longest.item() or 0)


def _json_dimension_pairs(frame: pl.DataFrame) -> list[tuple[str, pl.Expr]] | None:
    if "dimensions" not in frame.columns or frame.schema["dimensions"] == pl.Null:
        return []
    dtype = frame.schema["dimensions"]
    if not isinstance(dtype, pl.Struct):
        return None
    fields = dtype.fields
    if len(fields) > MAX_DIMENSIONS or any(
        not f.name or len(f.name) > MAX_DIMENSION_KEY or not isinstance(f.dtype, _SCALAR_TYPES)
        for f in fields
    ):
        return None
    dims = pl.col("dimensions")
    return [(f.name, pl.when(dims.is_not_null()).then(dims.struct.field(f.name))) for f in fields]


def _finish_fast(
    frame: pl.DataFrame, pairs: list[tuple[str, pl.Expr]], uri: str
) -> RawBatch | None:
    dims, longest = kv_series(frame, pairs)
    if longest > MAX_DIMENSION_VALUE:
        return None
    records = raw_frame(frame, dims)
    return RawBatch(records, pl.DataFrame(schema=REJECT_SCHEMA), records.height)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NAMES = (b"customerId", b"meterApiName", b"uniqueId")
_NAME_AS_FLOAT = re.compile(rb'"(?:customerId|meterApiName|uniqueId)"\s*:\s*-?[0-9]+[.eE]')


_NUMBER_LIKE_NAMES = ("customerId", "meterApiName", "uniqueId")
# What polars renders a JSON number as (digits, sign, point, exponent; inf, nan): a superset.
_RENDERED_NUMBER = r"^[-+0-9.eEinfatyINFATY]+$"


def _name_as_float(body: bytes) -> bool:
    """True when an id or a name is given as a non-integer number (`_NAME_AS_FLOAT`).

    The regex scan costs ~1 ms per 100 KB; counting costs a tenth of that. When every
    `"customerId"` (and the others) is followed by `:"` or `: "`, none is a number and the scan
    is skipped; any other spelling takes the scan.
    """
    for name in _NAMES:
        key = b'"' + name + b'"'
        total = body.count(key)
        if total and total != body.count(key + b':"') + body.count(key + b': "'):
            return _NAME_AS_FLOAT.search(body) is not None
    return False


# DuckDB costs ~20 ms per call (a connection, a temp file) where polars reads 100 lines in
# 1 ms: small files (the many-small-files case) stay with polars.
DUCKDB_MIN_BYTES = 4 * 1024 * 1024


def fast_json(data: bytes, uri: str, *, lines: bool) -> RawBatch | None:
    """A clean JSON array (NDJSON with `lines`) read in one call; None when the exact reader
    must decide."""
    body = strip_bom(data)
    if has_long_number_or_blank_line(body, lines=lines):
        return None
    if lines and len(body) >= DUCKDB_MIN_BYTES:
        batch = duckdb_ndjson(body)
        if batch is not None:
            return batch
    # polars reads a lone UTF-16 surrogate escape as NUL: the exact reader rejects it by name.
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
        return None
    overrides = {name: pl.String for name in AMBERFLO_FIELDS}
    try:
        if lines:
            frame = pl.read_ndjson(
                io.BytesIO(body), infer_schema_length=None, schema_overrides=overrides
            )
        else:
            frame = pl.read_json(
                io.BytesIO(body), infer_schema_length=None, schema_overrides=overrides
            )
    except Exception:  # any reader complaint: the exact reader explains it row by row
        return None
    present = [name for name in AMBERFLO_FIELDS if name in frame.columns]
    if frame.width == 0 or any(frame.schema[name] != pl.String for name in present):
        return None
    if present:
        # The String override renders an object or array as JSON text; the exact reader
        # rejects those values by name, so leave such files to it.
        nested = pl.any_horizontal(pl.col(present).str.contains(r"^\s*[\[{]")).any()
        # polars renders a JSON number's value, not its text (1e3 as "1000"): an id or a name
        # given as a non-integer number is left to the exact reader. Only a value that reads
        # like a number can have been one, so the body is scanned only when there is one.
        names = [name for name in present if name in _NUMBER_LIKE_NAMES]
        number_like = (
            pl.any_horizontal(pl.col(names).str.contains(_RENDERED_NUMBER)).any()
            if names
            else pl.lit(False)
        )
        found = frame.select(nested.alias("nested"), number_like.alias("number_like")).row(0)
        if found[0] or (found[1] and _name_as_float(body)):
            return None
    pairs = _json_dimension_pairs(frame)
    if pairs is None:
        return None
    # polars reads a key that holds a string in one record and an object or an array in
    # another as text, the nested value rendered as JSON: the exact reader rejects it by name.
    if pairs and frame.select(
        pl.any_horizontal(
            [expr.cast(pl.String).str.contains(r"^\s*[\[{]") for _, expr in pairs]
        ).any()
    ).item():
        return None
    return _finish_fast(frame, pairs, uri)


def fast_csv(data: bytes, uri: str) -> RawBatch | None:
    """A clean CSV file read in one call; None when the exact reader must decide."""
    body = strip_bom(data)
    # Blank lines, stray carriage returns and short rows are what a vectorized CSV reader can
    # silently misread; such files take the exact reader.
    if re.search(rb"\n[ \t\r]*\n", body.strip()) or b"\r" in body.replace(b"\r\n", b""):
        return None
    try:
        frame = pl.read_csv(
            io.BytesIO(body), infer_schema=False, raise_if_empty=False, empty_string_is_null=False
        )
    except Exception:  # ragged (long) rows, invalid UTF-8: the exact reader explains them
        return None
    header = [c.strip() for c in frame.columns]
    width = len(header)
    if len(set(header)) != width or any(c.endswith("_duplicated_0") or not c for c in header):
        return None
    # Every data row must have exactly `width` fields (a short row would be padded silently):
    # count the separators outside quoted fields.
    quoted_commas = sum(q.count(b",") for q in QUOTED_FIELD.findall(body)) if b'"' in body else 0
    if body.count(b",") - quoted_commas != (frame.height + 1) * (width - 1):
        return None
    frame = frame.rename(dict(zip(frame.columns, header, strict=True)))
    dim_columns = [c for c in header if c not in AMBERFLO_FIELDS]
    if len(dim_columns) > MAX_DIMENSIONS or any(len(c) > MAX_DIMENSION_KEY for c in dim_columns):
        return None
    return csv_records(frame, dim_columns, uri)


def csv_records(frame: pl.DataFrame, dim_columns: list[str], uri: str) -> RawBatch | None:
    """CSV rows read as text (header names stripped) -> raw records numbered from 1: the
    Amberflo fields stripped, empty cells null, the other columns as dimensions; None when a
    dimension value is over the limit (the exact reader rejects it)."""
    frame = frame.with_columns(
        [
            pl.col(name).str.strip_chars().replace("", None)
            for name in AMBERFLO_FIELDS
            if name in frame.columns
        ]
    )
    return _finish_fast(frame, [(c, pl.col(c).replace("", None)) for c in dim_columns], uri)
