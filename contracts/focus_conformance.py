"""FOCUS conformance findings and per-file reconciliation: what a kept row breaks, and what a
file's own text says its money adds up to."""

from __future__ import annotations

from typing import Final

import pandera.polars as pa
import polars as pl


class FocusFinding(pa.DataFrameModel):
    """A FOCUS rule a kept line item breaks in a column that does not place or price it.

    The row is loaded; `value` is the offending text as the file wrote it (shortened to 200
    characters; null when the value is missing).
    """

    source_uri: str = pa.Field(nullable=False)
    source_row: pl.Int64 = pa.Field(nullable=False, ge=1)
    column_name: str = pa.Field(nullable=False)
    rule: str = pa.Field(nullable=False)
    value: str = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


FINDING_COLUMNS: Final[list[str]] = list(FocusFinding.to_schema().columns)
FINDING_SCHEMA: Final[pl.Schema] = pl.Schema(
    {name: col.dtype.type for name, col in FocusFinding.to_schema().columns.items()}
)

SOURCE_AMOUNT_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "source_row": pl.Int64(),
        "currency": pl.String(),
        "billed_cost": pl.String(),
        "effective_cost": pl.String(),
    }
)
"""Each source row's BillingCurrency, BilledCost and EffectiveCost exactly as the file wrote
them (text), for reconciling the loaded totals against the file's own."""
