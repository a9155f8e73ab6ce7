"""Which large Amberflo exports DuckDB types from their file (etl.formats.amberflo.duckdb_csv,
etl.formats.amberflo.typed_ndjson), and how."""

from __future__ import annotations

from etl.formats.amberflo.duckdb_csv import TypedPlan, csv_plan, strict_csv_file
from etl.formats.amberflo.typed_ndjson import ndjson_plan
from etl.formats.base import SourceFormat


def typed_plan(fmt: SourceFormat, first: bytes) -> TypedPlan | None:
    """The typing plan of a large CSV or NDJSON export whose first bytes are `first`; None
    when it streams in chunks."""
    if fmt == "amberflo_csv":
        return csv_plan(first)
    if fmt == "amberflo_ndjson":
        return ndjson_plan(first)
    return None


def reads_alike(fmt: SourceFormat, path: str, uri: str, max_bytes: int) -> bool:
    """True when DuckDB reads the file at `path` exactly as the chunked reader does (an
    NDJSON export's lines are each decided in SQL: nothing to check beforehand)."""
    if fmt in ("amberflo_csv", "focus_csv"):
        return strict_csv_file(path, uri, max_bytes)
    return True
