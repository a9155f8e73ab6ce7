"""Large clean NDJSON read by DuckDB's JSON reader (in memory, one thread per reading thread)."""

from __future__ import annotations

import tempfile
import threading
from typing import Any

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, A
from contracts.meter_event import REJECT_SCHEMA
from etl.formats.amberflo.records import (
    MAX_DIMENSION_KEY,
    MAX_DIMENSION_VALUE,
    MAX_DIMENSIONS,
    RawBatch,
    raw_frame,
)

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
# How DuckDB renders a JSON number that is not a plain integer ("1.50" comes back as "1.5"):
# an id or a name that looks like one may have been a number, whose text only the exact
# reader keeps.
_FLOAT_TEXT = r"^-?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$"

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


def duckdb_ndjson(body: bytes) -> RawBatch | None:
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
    records = raw_frame(frame.select(AMBERFLO_FIELDS), dims)
    return RawBatch(records, pl.DataFrame(schema=REJECT_SCHEMA), records.height)
