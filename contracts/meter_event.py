"""The canonical meter event: one row per usage measurement, whatever the source format."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

# 18 decimal places hold every value FOCUS exports and Amberflo meterValues carry in practice
# (provider exports write 11-15, generated data 14); a value with more is rejected by a named
# rule, never rounded. Rating and the cost rollups keep their own scale (12, the rate card's).
MONEY = pl.Decimal(38, 18)
QUANTITY = pl.Decimal(38, 18)
DIMENSIONS = pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8}))
UTC_TIME = pl.Datetime("us", "UTC")


class MeterEvent(pa.DataFrameModel):
    """A normalized, validated meter event as it is loaded into `meter_events`.

    `dimensions` travels as a list of key/value structs and becomes a DuckDB
    MAP(VARCHAR, VARCHAR) in the warehouse, so SQL can say `dimensions['team']`.
    Cost columns are null where the source carries no cost (Amberflo records).
    """

    event_id: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 512})
    customer_id: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 512})
    meter_name: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 256})
    quantity: QUANTITY = pa.Field(nullable=False)  # type: ignore[valid-type]
    unit: str = pa.Field(nullable=True)
    event_time: UTC_TIME = pa.Field(nullable=False)  # type: ignore[valid-type]
    event_date: pl.Date = pa.Field(nullable=False)
    dimensions: DIMENSIONS = pa.Field(nullable=False)  # type: ignore[valid-type]
    billed_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    effective_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    list_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    contracted_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    currency: str = pa.Field(nullable=True)
    source_format: str = pa.Field(
        nullable=False,
        isin=[
            "amberflo_json", "amberflo_ndjson", "amberflo_csv", "focus_csv", "focus_parquet",
            "prometheus",
        ],
    )
    source_uri: str = pa.Field(nullable=False)
    source_row: pl.Int64 = pa.Field(nullable=False, ge=1)

    class Config:
        strict = True
        coerce = True


class RejectedRow(pa.DataFrameModel):
    """A source row that could not become a meter event, with the reason and where it was."""

    source_uri: str = pa.Field(nullable=False)
    source_row: pl.Int64 = pa.Field(nullable=True)
    column_name: str = pa.Field(nullable=True)
    rule: str = pa.Field(nullable=False)
    reason: str = pa.Field(nullable=False)
    raw_record: str = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


EVENT_COLUMNS: list[str] = list(MeterEvent.to_schema().columns)
REJECT_COLUMNS: list[str] = list(RejectedRow.to_schema().columns)
EVENT_SCHEMA: pl.Schema = pl.Schema(
    {name: col.dtype.type for name, col in MeterEvent.to_schema().columns.items()}
)
REJECT_SCHEMA: pl.Schema = pl.Schema(
    {name: col.dtype.type for name, col in RejectedRow.to_schema().columns.items()}
)
