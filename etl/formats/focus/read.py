"""Reading a FOCUS file: everything becomes text first (CSV and Parquet share one cast layer)."""

from __future__ import annotations

import io
import json

import polars as pl

from etl.errors import FormatError
from etl.formats.focus.columns import KEY_VALUE_COLUMNS, canonical_name


def read_csv_text(data: bytes, source_uri: str) -> pl.DataFrame:
    """A FOCUS CSV with every column as text."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise FormatError(f"{source_uri}: empty FOCUS CSV (no header row); re-export the file")
    try:
        # All columns as text: the cast layer decides types, so money never becomes float and
        # "NULL" stays visible as a token. Empty fields stay "" for raw_record fidelity.
        return pl.read_csv(io.BytesIO(data), infer_schema=False, empty_string_is_null=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{source_uri}: not a readable FOCUS CSV: {exc}") from exc


def read_parquet_text(data: bytes, source_uri: str) -> tuple[pl.DataFrame, list[str]]:
    """A FOCUS Parquet file with every column rendered as text, and notes on what was converted."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{source_uri}: not a readable FOCUS Parquet file: {exc}") from exc
    notes: list[str] = []
    columns: list[pl.Series] = []
    for series in frame.get_columns():
        dtype = series.dtype
        if dtype.is_float():
            count = series.is_not_null().sum()
            if count:
                notes.append(
                    f"{series.name}: Parquet {dtype} read through its shortest decimal text "
                    f"({count} rows)"
                )
        columns.append(
            _as_text(series, drop_null_fields=canonical_name(series.name) in KEY_VALUE_COLUMNS)
        )
    return pl.DataFrame(columns), notes


def _as_text(series: pl.Series, *, drop_null_fields: bool) -> pl.Series:
    """A Parquet column as text: numbers exact, timestamps ISO UTC, nested values as JSON."""
    dtype = series.dtype
    if dtype == pl.String:
        return series
    if isinstance(dtype, pl.Datetime):
        utc = series.dt.convert_time_zone("UTC") if dtype.time_zone else series
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    if dtype == pl.Date:
        return series.dt.strftime("%Y-%m-%d")
    if dtype.is_nested() or isinstance(dtype, pl.Map):
        values = [
            None if v is None else _json_text(v, drop_null_fields=drop_null_fields)
            for v in series.to_list()
        ]
        return pl.Series(series.name, values, dtype=pl.String)
    if dtype == pl.Binary:
        return series.cast(pl.String, strict=False)
    # Booleans ("true"/"false"), integers, decimals (exact) and floats (shortest round-trip text).
    return series.cast(pl.String)


def _json_text(value: object, *, drop_null_fields: bool) -> str:
    if drop_null_fields and isinstance(value, dict):
        # Struct-typed tag columns carry every key seen in the file; null means "not on this row".
        value = {k: v for k, v in value.items() if v is not None}
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
