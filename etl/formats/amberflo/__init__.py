"""Amberflo meter records (JSON array, NDJSON, CSV): readers, raw records, normalization.

records (raw records, per-record checks) <- fast (vectorized polars readers) and duckdb_ndjson
(large NDJSON) and exact (record by record) <- parse (the entry points) <- parser (the
registry's view); normalize turns raw records into canonical meter events.
"""

from __future__ import annotations

from typing import Final

from etl.formats.amberflo.normalize import Normalized, normalize_meter_records
from etl.formats.amberflo.parse import (
    parse_amberflo_csv,
    parse_amberflo_json,
    parse_amberflo_ndjson,
)
from etl.formats.amberflo.parser import AmberfloParser
from etl.formats.amberflo.records import (
    AMBERFLO_CSV_REQUIRED,
    MAX_DIMENSION_KEY,
    MAX_DIMENSION_VALUE,
    MAX_DIMENSIONS,
    RawBatch,
)

__all__: Final[list[str]] = [
    "AMBERFLO_CSV_REQUIRED",
    "MAX_DIMENSIONS",
    "MAX_DIMENSION_KEY",
    "MAX_DIMENSION_VALUE",
    "AmberfloParser",
    "Normalized",
    "RawBatch",
    "normalize_meter_records",
    "parse_amberflo_csv",
    "parse_amberflo_json",
    "parse_amberflo_ndjson",
]
