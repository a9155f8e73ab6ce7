"""Rating events with the warehouse engine (etl.costs.rating) in an in-memory DuckDB, for the
tests of this package: the events stored in meter_events, the card stored as `rate-card load`
stores it, every partition rated as a rollup rates it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl

from contracts.rate_card import RATED_COLUMNS, RATED_SCHEMA
from etl.costs.rate_card_store import store_rate_card
from etl.costs.rate_cards import RateCard
from etl.costs.rating import prepare_rating, rate_partition, rating_partitions, select_days
from etl.warehouse.schema import ensure_schema


def rate_in_warehouse(
    card: RateCard, frame: pl.DataFrame, days: list[date], max_events: int
) -> pl.DataFrame:
    """Rated events (RATED_COLUMNS, by event_id) of `days`, rating `frame`'s events (the
    columns of tests/unit/costs/oracle.EVENT_INPUT_SCHEMA) with `card`, partitions of at most
    `max_events` events."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        ensure_schema(con)
        stored = frame.with_columns(
            pl.lit("u").alias("unit"),
            pl.lit("amberflo_json").alias("source_format"),
            pl.lit("test://events").alias("source_uri"),
            pl.int_range(1, frame.height + 1).alias("source_row"),
            pl.lit(datetime(2026, 12, 1, tzinfo=UTC)).alias("ingested_at"),
        )
        con.register("incoming", stored.to_arrow())
        con.execute(
            """INSERT INTO meter_events BY NAME
               SELECT * EXCLUDE (dimensions), map_from_entries(dimensions) AS dimensions
               FROM incoming"""
        )
        store_rate_card(con, card, "card.csv")
        select_days(con, days)
        prepare_rating(con)
        for partition in rating_partitions(con, max_events):
            rate_partition(con, partition, card.version)
        rated = con.execute("SELECT * FROM rated_events").pl()
    finally:
        con.close()
    return rated.cast(pl.Schema(RATED_SCHEMA)).select(RATED_COLUMNS).sort("event_id")
