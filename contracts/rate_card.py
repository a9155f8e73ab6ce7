"""Rate card contracts: the prices and adjustments a user loads, and the rated event they produce.

A rate card file (CSV or YAML, see docs/rating.md) is parsed into two typed frames:

- `RatePrice`: one row per price tier. A flat price is one tier starting at 0; graduated and
  volume prices are several rows sharing a `rate_id`, each with the quantity `tier_from` where
  its tier starts. `dimension_match` (the file's `match`) holds the dimension filters (`datacenter=fra1`); more filters = more
  specific.
- `RateAdjustment`: a percentage uplift (positive) or discount (negative) for a customer, a team,
  or both, optionally only for one meter.

Money and quantities are Decimal(38, 12) from end to end: files are read as text and parsed with
Python's `decimal`, never through float.
"""

from __future__ import annotations

from typing import Final

import pandera.polars as pa
import polars as pl

from contracts.meter_event import DIMENSIONS, MONEY

PRICING_KINDS: Final[tuple[str, ...]] = ("flat", "graduated", "volume")
TIER_PERIODS: Final[tuple[str, ...]] = ("month", "day")
RATE_STATUSES: Final[tuple[str, ...]] = ("rated", "source_cost", "unrated")
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"


def _window_order(data: pa.PolarsData) -> pl.LazyFrame:
    start, end = pl.col("effective_from"), pl.col("effective_to")
    return data.lazyframe.select(end.is_null() | (start < end))


class RatePrice(pa.DataFrameModel):
    """One tier of one price rule, valid for event dates in [effective_from, effective_to)."""

    rate_id: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 128})
    meter_name: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 256})
    unit: str = pa.Field(nullable=True)
    currency: str = pa.Field(nullable=False, str_matches=CURRENCY_PATTERN)
    pricing: str = pa.Field(nullable=False, isin=list(PRICING_KINDS))
    tier_period: str = pa.Field(nullable=False, isin=list(TIER_PERIODS))
    tier_from: MONEY = pa.Field(nullable=False, ge=0)  # type: ignore[valid-type]
    unit_price: MONEY = pa.Field(nullable=False, ge=0)  # type: ignore[valid-type]
    dimension_match: DIMENSIONS = pa.Field(nullable=False)  # type: ignore[valid-type]
    effective_from: pl.Date = pa.Field(nullable=False)
    effective_to: pl.Date = pa.Field(nullable=True)
    priority: pl.Int64 = pa.Field(nullable=False, ge=0)
    source_row: str = pa.Field(nullable=False)

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check
    @classmethod
    def effective_window_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """effective_from < effective_to (the end is exclusive; null = open-ended)."""
        return _window_order(data)


class RateAdjustment(pa.DataFrameModel):
    """A percentage applied to rated cost: -10 is a 10% discount, 5 a 5% uplift."""

    adjustment_id: str = pa.Field(nullable=False, str_length={"min_value": 1, "max_value": 128})
    customer_id: str = pa.Field(nullable=True)
    team: str = pa.Field(nullable=True)
    meter_name: str = pa.Field(nullable=True)
    adjustment_pct: MONEY = pa.Field(nullable=False, gt=-100, le=1000)  # type: ignore[valid-type]
    effective_from: pl.Date = pa.Field(nullable=False)
    effective_to: pl.Date = pa.Field(nullable=True)
    priority: pl.Int64 = pa.Field(nullable=False, ge=0)
    source_row: str = pa.Field(nullable=False)

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check
    @classmethod
    def effective_window_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """effective_from < effective_to (the end is exclusive; null = open-ended)."""
        return _window_order(data)

    @pa.dataframe_check
    @classmethod
    def scoped_to_customer_or_team(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """An adjustment names a customer, a team or both; a global one would be a price change."""
        return data.lazyframe.select(
            pl.col("customer_id").is_not_null() | pl.col("team").is_not_null()
        )


class RatedEvent(pa.DataFrameModel):
    """The cost rating gives one stored meter event (table `rated_events`).

    `rated` events have a `rate_id` and a `rated_cost`; `source_cost` events keep the cost their
    source carried (FOCUS) and are not rated; `unrated` events matched no price and have no cost.
    """

    event_id: str = pa.Field(nullable=False)
    event_date: pl.Date = pa.Field(nullable=False)
    rate_status: str = pa.Field(nullable=False, isin=list(RATE_STATUSES))
    rate_id: str = pa.Field(nullable=True)
    pricing: str = pa.Field(nullable=True, isin=list(PRICING_KINDS))
    unit_price: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    base_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    adjustment_id: str = pa.Field(nullable=True)
    adjustment_pct: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    rated_cost: MONEY = pa.Field(nullable=True)  # type: ignore[valid-type]
    currency: str = pa.Field(nullable=True)
    rate_card_version: str = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


def _schema(model: type[pa.DataFrameModel]) -> dict[str, pl.DataType]:
    return {name: col.dtype.type for name, col in model.to_schema().columns.items()}


PRICE_SCHEMA: Final[dict[str, pl.DataType]] = _schema(RatePrice)
ADJUSTMENT_SCHEMA: Final[dict[str, pl.DataType]] = _schema(RateAdjustment)
RATED_SCHEMA: Final[dict[str, pl.DataType]] = _schema(RatedEvent)
PRICE_COLUMNS: Final[list[str]] = list(PRICE_SCHEMA)
ADJUSTMENT_COLUMNS: Final[list[str]] = list(ADJUSTMENT_SCHEMA)
RATED_COLUMNS: Final[list[str]] = list(RATED_SCHEMA)
