"""Amberflo meter records: JSON array, NDJSON and CSV, each read fast when clean, else exactly.

Every parser returns the raw records (scalars still text, see contracts.amberflo) plus the
rows it could not read at all (etl.formats.amberflo.records).
"""

from __future__ import annotations

from etl.formats.amberflo.exact import read_csv_exact, read_json_exact, read_ndjson_exact
from etl.formats.amberflo.fast import fast_csv, fast_json
from etl.formats.amberflo.records import RawBatch
from etl.formats.detect import strip_bom


def parse_amberflo_ndjson(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """One JSON record per line; a bad line is rejected, the others load.

    `exact` skips the vectorized reader (the record-by-record reader keeps each value's text).
    """
    fast = None if exact else fast_json(data, uri, lines=True)
    if fast is not None:
        return fast
    return read_ndjson_exact(data, uri)


def parse_amberflo_json(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """A JSON array of records (a single object is taken as an array of one).

    Elements are decoded one at a time, so a file cut off mid-record still loads every
    complete record before the cut and rejects the rest with its position.
    """
    stripped = strip_bom(data).lstrip()
    if not exact and stripped.startswith(b"["):
        fast = fast_json(data, uri, lines=False)
        if fast is not None:
            return fast
    return read_json_exact(data, uri)


def parse_amberflo_csv(data: bytes, uri: str, *, exact: bool = False) -> RawBatch:
    """CSV with a header row: the Amberflo fields as columns, every other column a dimension."""
    fast = None if exact else fast_csv(data, uri)
    if fast is not None:
        return fast
    return read_csv_exact(data, uri)
