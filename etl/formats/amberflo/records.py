"""Parsers for Amberflo meter records: JSON array, NDJSON and CSV.

Every parser returns the raw records (scalars still text, see contracts.amberflo) plus the
rows it could not read at all. `source_row` is 1-based: the element number of a JSON array,
the line number of an NDJSON file, the data-row number of a CSV file (header excluded).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, RAW_SCHEMA, A
from contracts.meter_event import DIMENSIONS, REJECT_SCHEMA
from etl.formats.detect import strip_bom

AMBERFLO_CSV_REQUIRED = frozenset({"customerId", "meterApiName", "meterValue", "meterTimeInMillis"})
MAX_DIMENSIONS = 64
MAX_DIMENSION_KEY = 128
MAX_DIMENSION_VALUE = 1024
_RAW_PREVIEW = 4096


@dataclass(frozen=True)
class RawBatch:
    """What a parser read from one file: raw records and unreadable rows."""

    records: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int


class _RowError(Exception):
    def __init__(self, column: str | None, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.rule = rule
        self.reason = reason


def _scalar_text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    kind = "an object" if isinstance(value, dict) else "an array"
    raise _RowError(
        column, f"amberflo.{column}.scalar", f"{column} is {kind}, expected a single value"
    )


def _dimension_entries(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _RowError(
            "dimensions",
            "amberflo.dimensions.map",
            "dimensions must be a JSON object of string values",
        )
    if len(value) > MAX_DIMENSIONS:
        raise _RowError(
            "dimensions",
            "amberflo.dimensions.size",
            f"dimensions has {len(value)} keys, more than the limit of {MAX_DIMENSIONS}",
        )
    entries = []
    for key, raw in value.items():
        if raw is None:
            continue
        if isinstance(raw, dict | list):
            raise _RowError(
                "dimensions",
                "amberflo.dimensions.scalar",
                f"dimension {key[:MAX_DIMENSION_KEY]!r} holds {'an object' if isinstance(raw, dict) else 'an array'}, "
                "expected a string",
            )
        text = _scalar_text(raw, "dimensions") or ""
        if not key or len(key) > MAX_DIMENSION_KEY or len(text) > MAX_DIMENSION_VALUE:
            raise _RowError(
                "dimensions",
                "amberflo.dimensions.length",
                f"dimension key must be 1..{MAX_DIMENSION_KEY} characters and its value at most "
                f"{MAX_DIMENSION_VALUE} (key {key[:40]!r}, value of {len(text)} characters)",
            )
        entries.append({"key": key, "value": text})
    entries.sort(key=lambda e: e["key"])
    return entries


class _Collector:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.columns: dict[str, list[Any]] = {name: [] for name in RAW_SCHEMA}
        self.rejects: dict[str, list[Any]] = {name: [] for name in REJECT_SCHEMA}
        self.rows_in = 0

    def reject(self, row: int, column: str | None, rule: str, reason: str, raw: str) -> None:
        self.rejects["source_uri"].append(self.uri)
        self.rejects["source_row"].append(row)
        self.rejects["column_name"].append(column)
        self.rejects["rule"].append(rule)
        self.rejects["reason"].append(reason)
        self.rejects["raw_record"].append(raw[:_RAW_PREVIEW])

    def add_json(self, row: int, record: Any, raw: str) -> None:
        self.rows_in += 1
        if not isinstance(record, dict):
            self.reject(row, None, "amberflo.record.object", "record is not a JSON object", raw)
            return
        try:
            values = [_scalar_text(record.get(name), name) for name in AMBERFLO_FIELDS]
            dims = _dimension_entries(record.get("dimensions"))
        except _RowError as err:
            self.reject(row, err.column, err.rule, err.reason, raw)
            return
        self._append(row, values, dims, raw)

    def _append(
        self, row: int, values: list[str | None], dims: list[dict[str, str]], raw: str
    ) -> None:
        for name, value in zip(AMBERFLO_FIELDS, values, strict=True):
            self.columns[name].append(value)
        self.columns[A.dimensions].append(dims)
        self.columns[A.source_row].append(row)
        self.columns[A.raw_record].append(raw[:_RAW_PREVIEW])

    def batch(self) -> RawBatch:
        return RawBatch(
            records=pl.DataFrame(self.columns, schema=RAW_SCHEMA),
            rejects=pl.DataFrame(self.rejects, schema=REJECT_SCHEMA),
            rows_in=self.rows_in,
        )


def _loads(text: str) -> Any:
    # Numbers stay text so meterValue never passes through float; NaN/Infinity stay
    # recognisable so normalization can reject them by name.
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


def _decode(data: bytes) -> str:
    return strip_bom(data).decode("utf-8", errors="surrogateescape")


# surrogateescape turns each undecodable byte into one of these; a regex scans at C speed
# (a per-character Python loop took over a minute on a 200 MB line).
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def _has_bad_bytes(text: str) -> bool:
    return _BAD_BYTE.search(text) is not None


# -- vectorized readers ---------------------------------------------------------------
#
# Clean files (the overwhelming majority) are read by polars in one call. Whenever a file has
# anything the vectorized reader could get subtly wrong (a number with more digits than a
# float keeps, NaN, a blank line, a quoted CSV field, a ragged row, odd dimensions), it
# returns None and the record-by-record reader below handles the file with exact,
# per-row rejects. Both paths give the same records for the same clean input.

# 16+ digits in a row (the JSON readers hold numbers as float64, exact only to ~15 digits)
# and blank lines (they would shift line numbers) are found in one C-speed pass (a regex
# scan took a third of the reader's time): digits and dots become "0", newlines stay,
# spaces, tabs and carriage returns go, everything else becomes "x". Runs joined across
# removed spaces only send a file to the exact reader needlessly, never the other way round.
_SHAPE = bytes(
    ord("0") if chr(c) in "0123456789." else c if chr(c) == "\n" else ord("x") for c in range(256)
)
_LONG_RUN = b"0" * 16


def _has_long_number_or_blank_line(body: bytes, *, lines: bool) -> bool:
    shape = body.translate(_SHAPE, b" \t\r")
    if _LONG_RUN in shape:
        return True
    if not lines:
        return False
    # A blank line before the last record (trailing ones shift nothing); searched in place,
    # never copying the body again.
    blank = 0 if shape.startswith(b"\n") else shape.find(b"\n\n")
    return blank >= 0 and bool(shape[blank:].strip(b"\n"))


_QUOTED_FIELD = re.compile(rb'"(?:[^"]|"")*"')
_SCALAR_TYPES = (pl.String, pl.Int64, pl.Boolean, pl.Null)


def _raw_frame(base: pl.DataFrame, dims: pl.Series) -> pl.DataFrame:
    return base.select(
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
    ).cast(RAW_SCHEMA)


def _kv_series(frame: pl.DataFrame, pairs: list[tuple[str, pl.Expr]]) -> tuple[pl.Series, int]:
    """Per row, the sorted key/value structs of the non-null values among `pairs`, and the
    longest value seen.

    Built long-form (unpivot, drop nulls, group back) because concatenating struct lists
    row by row is an order of magnitude slower in polars.
    """
    rows = frame.height
    if not pairs or rows == 0:
        return pl.Series(A.dimensions, [[]] * rows, dtype=DIMENSIONS), 0
    wide = frame.select([expr.cast(pl.String).alias(key) for key, expr in pairs]).with_row_index(
        "_row"
    )
    long = wide.unpivot(index="_row", variable_name="key", value_name="value").drop_nulls("value")
    longest = long.select(pl.col("value").str.len_chars().max()).item() or 0
    grouped = (
        long.sort("_row", "key")
        .group_by("_row", maintain_order=True)
        .agg(pl.struct("key", "value").alias(A.dimensions))
    )
    dims = (
        wide.select("_row")
        .join(grouped, on="_row", how="left", maintain_order="left")
        .get_column(A.dimensions)
        .fill_null(pl.lit([], dtype=DIMENSIONS))
        .cast(DIMENSIONS)
    )
    return dims, int(longest)


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
    dims, longest = _kv_series(frame, pairs)
    if longest > MAX_DIMENSION_VALUE:
        return None
    records = _raw_frame(frame, dims)
    return RawBatch(records, pl.DataFrame(schema=REJECT_SCHEMA), records.height)


# NDJSON through DuckDB's JSON reader with the schema given (nothing inferred: polars must
# infer a schema from every row, or it drops a dimension key first seen late). Dimensions
# are read as JSON and turned into key/value pairs by `json_transform_strict`, which fails
# the whole read (so another reader decides) on dimensions that are not an object. `_odd`
# marks a row with a value that is not a string, which the transform would silently turn
# into text: checked exactly only where the text has a colon before something else than a
# quote. A key given twice is found by polars, which also sorts the pairs and drops null
# values (DuckDB's list_sort alone costs twice as much).
_DUCK_COLUMNS = (
    "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in AMBERFLO_FIELDS) + ", 'dimensions': 'JSON'}"
)
_DUCK_NDJSON = f"""
SELECT {", ".join(AMBERFLO_FIELDS)},
  coalesce(map_entries(json_transform_strict(dimensions, '"MAP(VARCHAR, VARCHAR)"')), [])
    AS dimensions,
  dimensions IS NULL AS _no_dimensions,
  coalesce(CASE WHEN regexp_matches(dimensions, ':\\s*[^"\\s]') THEN list_bool_or(list_transform(
       map_entries(json_transform(dimensions, '"MAP(VARCHAR, JSON)"')),
       e -> json_type(e.value) NOT IN ('VARCHAR', 'NULL'))) END, false) AS _odd
FROM read_json($path, format = 'newline_delimited', columns = {_DUCK_COLUMNS})
"""  # noqa: S608 - fixed field names; the file is a parameter
_NAME_AS_FLOAT = re.compile(rb'"(?:customerId|meterApiName|uniqueId)"\s*:\s*-?[0-9]+[.eE]')
# How DuckDB renders a JSON number that is not a plain integer ("1.50" comes back as "1.5"):
# an id or a name that looks like one may have been a number, whose text only the exact
# reader keeps.
_FLOAT_TEXT = r"^-?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$"


# DuckDB costs ~20 ms per call (a connection, a temp file) where polars reads 100 lines in
# 1 ms: small files (the many-small-files case) stay with polars.
_DUCKDB_MIN_BYTES = 4 * 1024 * 1024

# Each thread reads with its own in-memory DuckDB connection, kept for the thread's life
# (opening one cost ~40 ms per chunk). One DuckDB thread: the reader runs beside the
# warehouse's load on the other core, and two threads here only made them take turns
# (10M NDJSON 2-3% faster with one).
_READERS = threading.local()


def _reader() -> Any:
    con = getattr(_READERS, "con", None)
    if con is None:
        import duckdb

        con = _READERS.con = duckdb.connect(config={"memory_limit": "1GB", "threads": 1})
    return con


def _duckdb_ndjson(body: bytes) -> RawBatch | None:
    """Clean NDJSON read by DuckDB; None whenever another reader must decide."""
    import duckdb

    with tempfile.NamedTemporaryFile(prefix="meterhouse-", suffix=".ndjson") as tmp:
        tmp.write(body)
        tmp.flush()
        try:
            frame = _reader().execute(_DUCK_NDJSON, {"path": tmp.name}).pl()
        except duckdb.Error:  # not JSON, not objects, duplicate keys, ...: the others explain
            return None
    pairs = pl.col(A.dimensions).explode().drop_nulls()
    key, value = pl.element().struct.field("key"), pl.element().struct.field("value")
    fields = pl.col(*AMBERFLO_FIELDS)
    names = pl.col(A.customerId, A.meterApiName, A.uniqueId)
    odd = frame.select(
        pl.col("_odd").any().alias("dimensions_not_strings"),
        # a line that is not an object reads as all nulls, like `{}`: the exact reader tells
        pl.all_horizontal(fields.is_null(), pl.col("_no_dimensions")).any().alias("not_object"),
        pl.any_horizontal(fields.str.contains(r"^\s*[\[{]")).any().alias("nested_value"),
        pl.any_horizontal(fields.str.contains(r"(?i)^[-+]?(nan|inf)")).any().alias("nan"),
        pl.any_horizontal(names.str.contains(_FLOAT_TEXT) & names.str.contains(r"[.eE]"))
        .any()
        .alias("number_as_name"),
        (pl.col(A.dimensions).list.len().max() > MAX_DIMENSIONS).alias("many"),
        (pl.col(A.dimensions).list.eval(key).list.n_unique() != pl.col(A.dimensions).list.len())
        .any()
        .alias("key_twice"),
        (pairs.struct.field("key").str.len_chars().min() < 1).alias("empty_key"),
        (pairs.struct.field("key").str.len_chars().max() > MAX_DIMENSION_KEY).alias("long_key"),
        (pairs.struct.field("value").str.len_chars().max() > MAX_DIMENSION_VALUE).alias("long"),
    ).row(0)
    if frame.height == 0 or any(odd):
        return None
    by_key = pl.element().sort_by(key).filter(value.is_not_null())
    dims = frame.select(pl.col(A.dimensions).list.eval(by_key)).to_series()
    records = _raw_frame(frame.select(AMBERFLO_FIELDS), dims)
    return RawBatch(records, pl.DataFrame(schema=REJECT_SCHEMA), records.height)


def _fast_json(data: bytes, uri: str, *, lines: bool) -> RawBatch | None:
    body = strip_bom(data)
    if _has_long_number_or_blank_line(body, lines=lines):
        return None
    if lines and len(body) >= _DUCKDB_MIN_BYTES:
        batch = _duckdb_ndjson(body)
        if batch is not None:
            return batch
    # polars renders a JSON number's value, not its text (1e3 as "1000"): an id or a name
    # given as a non-integer number is left to the exact reader.
    if _NAME_AS_FLOAT.search(body):
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
    # The String override renders an object or array as JSON text; the exact reader rejects
    # those values by name, so leave such files to it.
    if (
        present
        and frame.select(pl.any_horizontal(pl.col(present).str.contains(r"^\s*[\[{]")).any()).item()
    ):
        return None
    pairs = _json_dimension_pairs(frame)
    return None if pairs is None else _finish_fast(frame, pairs, uri)


def _fast_csv(data: bytes, uri: str) -> RawBatch | None:
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
    quoted_commas = sum(q.count(b",") for q in _QUOTED_FIELD.findall(body)) if b'"' in body else 0
    if body.count(b",") - quoted_commas != (frame.height + 1) * (width - 1):
        return None
    frame = frame.rename(dict(zip(frame.columns, header, strict=True)))
    dim_columns = [c for c in header if c not in AMBERFLO_FIELDS]
    if len(dim_columns) > MAX_DIMENSIONS or any(len(c) > MAX_DIMENSION_KEY for c in dim_columns):
        return None
    frame = frame.with_columns(
        [
            pl.col(name).str.strip_chars().replace("", None)
            for name in AMBERFLO_FIELDS
            if name in frame.columns
        ]
    )
    return _finish_fast(frame, [(c, pl.col(c).replace("", None)) for c in dim_columns], uri)


def parse_amberflo_ndjson(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """One JSON record per line; a bad line is rejected, the others load.

    `exact` skips the vectorized reader (the record-by-record reader keeps each value's text).
    """
    fast = None if exact else _fast_json(data, uri, lines=True)
    if fast is not None:
        return fast
    out = _Collector(uri)
    for number, line in enumerate(_decode(data).split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if _has_bad_bytes(line):
            out.rows_in += 1
            out.reject(
                number,
                None,
                "amberflo.encoding",
                "line is not valid UTF-8; re-export as UTF-8",
                line.encode("utf-8", "replace").decode(),
            )
            continue
        try:
            record = _loads(line)
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                number,
                None,
                "amberflo.json.syntax",
                f"line is not valid JSON: {exc.msg} at column {exc.colno}",
                line,
            )
            continue
        out.add_json(number, record, line)
    return out.batch()


def parse_amberflo_json(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """A JSON array of records (a single object is taken as an array of one).

    Elements are decoded one at a time, so a file cut off mid-record still loads every
    complete record before the cut and rejects the rest with its position.
    """
    stripped = strip_bom(data).lstrip()
    if not exact and stripped.startswith(b"["):
        fast = _fast_json(data, uri, lines=False)
        if fast is not None:
            return fast
    text = _decode(data)
    if _has_bad_bytes(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    out = _Collector(uri)
    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)
    pos = _skip_ws(text, 0)
    if text.startswith("{", pos):
        try:
            record, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                1,
                None,
                "amberflo.json.syntax",
                f"record is not valid JSON: {exc.msg} at char {exc.pos}",
                text[pos : pos + _RAW_PREVIEW],
            )
            return out.batch()
        out.add_json(1, record, text[pos:end])
        return out.batch()
    pos += 1  # past '['
    row = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            # Every complete record before the cut still loads.
            out.rows_in += 1
            out.reject(
                row + 1,
                None,
                "amberflo.json.truncated",
                f"JSON array ends without ']' after {row} records: the file is cut off; re-upload it",
                "",
            )
            break
        if text[pos] == "]":
            break
        row += 1
        try:
            record, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                row,
                None,
                "amberflo.json.syntax",
                f"record {row} is not valid JSON ({exc.msg} at char {exc.pos}); the rest of the array "
                "cannot be read: fix or re-upload the file",
                text[pos : pos + _RAW_PREVIEW],
            )
            break
        out.add_json(row, record, text[pos:end])
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
    return out.batch()


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def parse_amberflo_csv(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """CSV with a header row: the Amberflo fields as columns, every other column a dimension."""
    fast = None if exact else _fast_csv(data, uri)
    if fast is not None:
        return fast
    text = _decode(data)
    out = _Collector(uri)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return out.batch()
    header = [h.strip() for h in header]
    field_index = {name: header.index(name) for name in AMBERFLO_FIELDS if name in header}
    dim_columns = [(i, h) for i, h in enumerate(header) if h not in AMBERFLO_FIELDS and h]
    width = len(header)
    row = 0
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        row += 1
        out.rows_in += 1
        raw = ",".join(fields)
        if _has_bad_bytes(raw):
            out.reject(
                row,
                None,
                "amberflo.encoding",
                "row is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
                raw.encode("utf-8", "replace").decode(),
            )
            continue
        raw = json.dumps(dict(zip(header, fields, strict=False)))
        if len(fields) != width:
            out.reject(
                row,
                None,
                "amberflo.csv.ragged",
                f"row has {len(fields)} fields but the header has {width}; check quoting and delimiters",
                raw,
            )
            continue
        values = [
            (fields[field_index[name]].strip() or None) if name in field_index else None
            for name in AMBERFLO_FIELDS
        ]
        try:
            # The same limits as JSON dimensions: empty cells are not dimensions.
            dims = _dimension_entries({h: fields[i] for i, h in dim_columns if fields[i] != ""})
        except _RowError as err:
            out.reject(row, err.column, err.rule, err.reason, raw)
            continue
        out._append(row, values, dims, raw)
    return out.batch()
