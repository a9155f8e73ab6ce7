"""The rating engine meterhouse had before etl.costs.rating (polars to match, a Python `decimal`
loop per event for tiers), kept as the oracle of tests/unit/costs/test_rating_differential.py:
the warehouse engine must give every event the same columns, to the last decimal.

Money never passes through float: frames carry Decimal(38, 12), and every multiplication
(quantity x price, x adjustment) is done with Python `Decimal` and rounded half-even to 12
decimal places once per event (`etl.costs.tiers`).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import polars as pl

from contracts.meter_event import MONEY
from contracts.rate_card import RATED_COLUMNS, RATED_SCHEMA
from etl.costs.rate_cards import RateCard
from etl.costs.tiers import adjustment_factor, graduated_cost, round_money, volume_price

# Columns of meter_events that rating reads.
EVENT_INPUT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Utf8(),
    "customer_id": pl.Utf8(),
    "meter_name": pl.Utf8(),
    "quantity": MONEY,
    "event_time": pl.Datetime("us", "UTC"),
    "event_date": pl.Date(),
    "dimensions": pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8})),
    "billed_cost": MONEY,
    "effective_cost": MONEY,
    "currency": pl.Utf8(),
}
EVENT_INPUT_COLUMNS: list[str] = list(EVENT_INPUT_SCHEMA)

# Dimension pairs are compared as "key<US>value" strings; the unit separator cannot be typed.
_PAIR_SEP = "\x1f"


def _in_window(day: pl.Expr, start: str, end: str) -> pl.Expr:
    return (day >= pl.col(start)) & (pl.col(end).is_null() | (day < pl.col(end)))


def _pairs(column: str) -> pl.Expr:
    return pl.col(column).list.eval(
        pl.element().struct.field("key") + pl.lit(_PAIR_SEP) + pl.element().struct.field("value")
    )


def _dimension(column: str, key: str) -> pl.Expr:
    return (
        pl.col(column)
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
        )
        .list.first()
    )


def _match_prices(events: pl.LazyFrame, card: RateCard) -> pl.LazyFrame:
    """Each event's price rule: same meter, in effect on the event date, every filter matching;
    the most specific rule wins (most filters), then the one listed first."""
    rules = (
        card.rules()
        .lazy()
        .with_columns(
            _pairs("dimension_match").alias("_match"),
            pl.col("dimension_match").list.len().alias("_specificity"),
        )
        .select("rate_id", "meter_name", "pricing", "tier_period", "currency", "effective_from",
                "effective_to", "priority", "_match", "_specificity")
    )  # fmt: skip
    return (
        events.select("event_id", "meter_name", "event_date", "_pairs")
        .join(rules, on="meter_name", how="inner")
        .filter(_in_window(pl.col("event_date"), "effective_from", "effective_to"))
        .filter(pl.col("_match").list.set_difference(pl.col("_pairs")).list.len() == 0)
        .sort("event_id", pl.col("_specificity"), "priority", descending=[False, True, False])
        .group_by("event_id", maintain_order=True)
        .first()
        .select(
            "event_id",
            "rate_id",
            "pricing",
            "tier_period",
            pl.col("currency").alias("rate_currency"),
        )
    )


def _match_adjustments(events: pl.LazyFrame, card: RateCard) -> pl.LazyFrame:
    """Each rated event's adjustment: customer, team and meter (where named) must match; the
    most specific wins, then the one listed first."""
    adjustments = card.adjustments.lazy().with_columns(
        (
            pl.col("customer_id").is_not_null().cast(pl.Int32)
            + pl.col("team").is_not_null().cast(pl.Int32)
            + pl.col("meter_name").is_not_null().cast(pl.Int32)
        ).alias("_specificity")
    )
    return (
        events.select("event_id", "customer_id", "meter_name", "event_date", "_team")
        .join(
            adjustments.rename(
                {"customer_id": "_adj_customer", "meter_name": "_adj_meter", "team": "_adj_team"}
            ),
            how="cross",
        )
        .filter(
            (pl.col("_adj_customer").is_null() | (pl.col("_adj_customer") == pl.col("customer_id")))
            & (
                pl.col("_adj_team").is_null()
                | (pl.col("_adj_team") == pl.col("_team")).fill_null(False)
            )
            & (pl.col("_adj_meter").is_null() | (pl.col("_adj_meter") == pl.col("meter_name")))
            & _in_window(pl.col("event_date"), "effective_from", "effective_to")
        )
        .sort("event_id", pl.col("_specificity"), "priority", descending=[False, True, False])
        .group_by("event_id", maintain_order=True)
        .first()
        .select("event_id", "adjustment_id", "adjustment_pct")
    )


def rate_events(events: pl.DataFrame, card: RateCard) -> pl.DataFrame:
    """Rate meter events with a rate card; one `RatedEvent` row per input event.

    Events whose source carries cost (billed or effective) keep it (`source_cost`); the others
    get the price of their best-matching rule (`rated`) or none (`unrated`, never a zero cost).
    Graduated and volume tiers accumulate per customer, rule and period (calendar month or day,
    UTC) in event-time order, so `events` must hold every event of each period being rated.
    """
    ev = (
        events.lazy()
        .select(EVENT_INPUT_COLUMNS)
        .with_columns(
            (pl.col("billed_cost").is_not_null() | pl.col("effective_cost").is_not_null()).alias(
                "_sourced"
            ),
            _pairs("dimensions").alias("_pairs"),
            _dimension("dimensions", "team").alias("_team"),
        )
    )
    to_rate = ev.filter(~pl.col("_sourced"))
    matched = (
        to_rate.join(_match_prices(to_rate, card), on="event_id", how="inner")
        .join(_match_adjustments(to_rate, card), on="event_id", how="left")
        .with_columns(
            pl.when(pl.col("tier_period") == "month")
            .then(pl.col("event_date").dt.truncate("1mo"))
            .otherwise(pl.col("event_date"))
            .alias("_period")
        )
        .sort("customer_id", "rate_id", "_period", "event_time", "event_id")
        .with_columns(
            pl.col("quantity").cum_sum().over("customer_id", "rate_id", "_period").alias("_after"),
            pl.col("quantity").sum().over("customer_id", "rate_id", "_period").alias("_total"),
        )
        .collect()
    )
    ladders = card.tiers()
    unit_prices: list[Decimal | None] = []
    base_costs: list[Decimal] = []
    rated_costs: list[Decimal] = []
    with localcontext() as ctx:
        ctx.prec = 80
        for rate_id, pricing, qty, after, total, pct in matched.select(
            "rate_id", "pricing", "quantity", "_after", "_total", "adjustment_pct"
        ).iter_rows():
            tiers = ladders[rate_id]
            if pricing == "graduated":
                price: Decimal | None = None
                base = graduated_cost(tiers, after - qty, after)
            else:
                price = tiers[0][1] if pricing == "flat" else volume_price(tiers, total)
                base = qty * price
            unit_prices.append(price)
            base_costs.append(round_money(base))
            rated_costs.append(round_money(base if pct is None else base * adjustment_factor(pct)))
    rated = matched.select(
        "event_id",
        "event_date",
        pl.lit("rated").alias("rate_status"),
        "rate_id",
        "pricing",
        pl.Series("unit_price", unit_prices, dtype=MONEY),
        pl.Series("base_cost", base_costs, dtype=MONEY),
        "adjustment_id",
        "adjustment_pct",
        pl.Series("rated_cost", rated_costs, dtype=MONEY),
        pl.col("rate_currency").alias("currency"),
        pl.lit(card.version).alias("rate_card_version"),
    )
    others = (
        ev.join(rated.lazy().select("event_id"), on="event_id", how="anti")
        .select(
            "event_id",
            "event_date",
            pl.when(pl.col("_sourced"))
            .then(pl.lit("source_cost"))
            .otherwise(pl.lit("unrated"))
            .alias("rate_status"),
            pl.when(pl.col("_sourced")).then(pl.col("currency")).alias("currency"),
        )
        .collect()
    )
    others = others.with_columns(
        pl.lit(None, dtype=dtype).alias(column)
        for column, dtype in RATED_SCHEMA.items()
        if column not in others.columns
    )
    out = pl.concat(
        [
            rated.cast(pl.Schema(RATED_SCHEMA)).select(RATED_COLUMNS),
            others.cast(pl.Schema(RATED_SCHEMA)).select(RATED_COLUMNS),
        ]
    )
    return out.select(RATED_COLUMNS).sort("event_date", "event_id")
