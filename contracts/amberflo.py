"""The raw Amberflo meter record, as parsed from JSON, NDJSON or CSV, before normalization."""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl

from contracts.meter_event import DIMENSIONS


class AmberfloRecord(pa.DataFrameModel):
    """One Amberflo meter record with every scalar still as text.

    Values stay strings here so that normalization can reject a bad `meterValue` or
    `meterTimeInMillis` row by row, with the original text in the reason.
    """

    customerId: str = pa.Field(nullable=True)
    meterApiName: str = pa.Field(nullable=True)
    meterValue: str = pa.Field(nullable=True)
    meterTimeInMillis: str = pa.Field(nullable=True)
    uniqueId: str = pa.Field(nullable=True)
    dimensions: DIMENSIONS = pa.Field(nullable=False)  # type: ignore[valid-type]
    source_row: pl.Int64 = pa.Field(nullable=False, ge=1)
    # The record's original text. The vectorized readers leave it null (it costs a copy of
    # every row); normalization then renders rejected rows from their fields.
    raw_record: str = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


# Attribute access on a pandera model yields the column name; typed Any for mypy.
A: Any = AmberfloRecord
AMBERFLO_FIELDS: tuple[str, ...] = (
    A.customerId,
    A.meterApiName,
    A.meterValue,
    A.meterTimeInMillis,
    A.uniqueId,
)
RAW_SCHEMA: pl.Schema = pl.Schema(
    {name: col.dtype.type for name, col in AmberfloRecord.to_schema().columns.items()}
)
