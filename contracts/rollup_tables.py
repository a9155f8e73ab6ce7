"""DuckDB schemas of the rating and rollup tables, their views, and how the lake publishes them.

The warehouse creates these tables (etl.costs) and the lake defines them over its Parquet files
(etl.lake.views), so both read them from here: neither imports the other for them.
"""

from __future__ import annotations

from typing import Final

from contracts.lake import LakeTable

_MONEY = "DECIMAL(38, 12)"
# Rollups sum event values exactly: events hold FOCUS money and quantities to 18 places (rating's
# own costs keep 12), so the sums do too, and reconcile to the last digit.
_SUMS = "DECIMAL(38, 18)"
# cost_daily and cost_monthly share their columns after the period key.
_ROLLUP_COLUMNS = f"""
        customer_id      VARCHAR NOT NULL,
        meter_name       VARCHAR NOT NULL,
        dimensions       MAP(VARCHAR, VARCHAR) NOT NULL,
        unit             VARCHAR,
        currency         VARCHAR,
        quantity         {_SUMS} NOT NULL,
        event_count      BIGINT NOT NULL,
        rated_cost       {_SUMS},
        billed_cost      {_SUMS},
        effective_cost   {_SUMS},
        cost             {_SUMS},
        unrated_events   BIGINT NOT NULL,
        unrated_quantity {_SUMS}"""

ROLLUP_TABLE_DDL: Final[tuple[str, ...]] = (
    f"""CREATE TABLE IF NOT EXISTS rate_card (
        rate_id         VARCHAR NOT NULL,
        meter_name      VARCHAR NOT NULL,
        unit            VARCHAR,
        currency        VARCHAR NOT NULL,
        pricing         VARCHAR NOT NULL,
        tier_period     VARCHAR NOT NULL,
        tier_from       {_MONEY} NOT NULL,
        unit_price      {_MONEY} NOT NULL,
        dimension_match MAP(VARCHAR, VARCHAR) NOT NULL,
        effective_from  DATE NOT NULL,
        effective_to    DATE,
        priority        BIGINT NOT NULL,
        source_row      VARCHAR NOT NULL,
        version         VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS rate_adjustments (
        adjustment_id   VARCHAR NOT NULL,
        customer_id     VARCHAR,
        team            VARCHAR,
        meter_name      VARCHAR,
        adjustment_pct  {_MONEY} NOT NULL,
        effective_from  DATE NOT NULL,
        effective_to    DATE,
        priority        BIGINT NOT NULL,
        source_row      VARCHAR NOT NULL,
        version         VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS rate_card_loads (
        version          VARCHAR NOT NULL,
        previous_version VARCHAR,
        source_uri       VARCHAR NOT NULL,
        prices           BIGINT NOT NULL,
        adjustments      BIGINT NOT NULL,
        affected_from    DATE,
        affected_to      DATE,
        loaded_at        TIMESTAMPTZ NOT NULL,
        rerated_at       TIMESTAMPTZ
    )""",
    f"""CREATE TABLE IF NOT EXISTS rated_events (
        event_id          VARCHAR NOT NULL,
        event_date        DATE NOT NULL,
        rate_status       VARCHAR NOT NULL,
        rate_id           VARCHAR,
        pricing           VARCHAR,
        unit_price        {_MONEY},
        base_cost         {_MONEY},
        adjustment_id     VARCHAR,
        adjustment_pct    {_MONEY},
        rated_cost        {_MONEY},
        currency          VARCHAR,
        rate_card_version VARCHAR
    )""",
    f"CREATE TABLE IF NOT EXISTS cost_daily (event_date DATE NOT NULL, {_ROLLUP_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS cost_monthly (month DATE NOT NULL, {_ROLLUP_COLUMNS}, days BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS rollup_state (
        event_date        DATE NOT NULL,
        meter_name        VARCHAR NOT NULL,
        events            BIGINT NOT NULL,
        max_ingested_at   TIMESTAMPTZ NOT NULL,
        fingerprint       UBIGINT NOT NULL,
        rate_card_version VARCHAR,
        rolled_up_at      TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (event_date, meter_name)
    )""",
)
# The views users ask for first (docs/rating.md); also defined over the Parquet lake.
ROLLUP_VIEW_DDL: Final[tuple[str, ...]] = (
    """CREATE OR REPLACE VIEW cost_by_customer_month AS
       SELECT month, customer_id, currency,
              sum(cost) AS cost, sum(rated_cost) AS rated_cost, sum(billed_cost) AS billed_cost,
              sum(effective_cost) AS effective_cost, sum(event_count) AS events,
              sum(unrated_events) AS unrated_events
       FROM cost_monthly
       GROUP BY month, customer_id, currency""",
    """CREATE OR REPLACE VIEW cost_by_customer_this_month AS
       SELECT customer_id, currency, cost, rated_cost, billed_cost, effective_cost, events, unrated_events
       FROM cost_by_customer_month
       WHERE month = date_trunc('month', current_date)""",
    """CREATE OR REPLACE VIEW top_meters_by_cost AS
       SELECT month, meter_name, currency, any_value(unit) AS unit, sum(quantity) AS quantity,
              sum(cost) AS cost, sum(event_count) AS events,
              rank() OVER (PARTITION BY month, currency ORDER BY sum(cost) DESC) AS cost_rank
       FROM cost_monthly
       WHERE cost IS NOT NULL
       GROUP BY month, meter_name, currency""",
    """CREATE OR REPLACE VIEW cost_day_over_day AS
       WITH daily AS (
         SELECT event_date, customer_id, currency, sum(cost) AS cost
         FROM cost_daily WHERE cost IS NOT NULL
         GROUP BY event_date, customer_id, currency)
       SELECT d.event_date, d.customer_id, d.currency, d.cost, p.cost AS previous_day_cost,
              d.cost - coalesce(p.cost, 0) AS change,
              -- a display ratio, not money: DuckDB divides decimals in double precision
              CASE WHEN p.cost > 0 THEN CAST(round((d.cost - p.cost) * 100 / p.cost, 2) AS DECIMAL(18, 2)) END AS change_pct
       FROM daily d
       LEFT JOIN daily p
         ON p.customer_id = d.customer_id AND p.currency = d.currency
        AND p.event_date = d.event_date - INTERVAL 1 DAY""",
    """CREATE OR REPLACE VIEW unrated_usage AS
       SELECT event_date, customer_id, meter_name, unit,
              sum(unrated_events) AS events, sum(unrated_quantity) AS quantity
       FROM cost_daily
       WHERE unrated_events > 0
       GROUP BY event_date, customer_id, meter_name, unit""",
)

ROLLUP_TABLE_NAMES: Final[tuple[str, ...]] = (
    "rate_card",
    "rate_adjustments",
    "rate_card_loads",
    "rated_events",
    "cost_daily",
    "cost_monthly",
    "rollup_state",
)
"""The names of ROLLUP_TABLE_DDL's tables, in its order."""

_DDL = dict(zip(ROLLUP_TABLE_NAMES, ROLLUP_TABLE_DDL, strict=True))

ROLLUP_LAKE_TABLES: Final[dict[str, LakeTable]] = {
    "cost_daily": LakeTable(
        "cost_daily",
        _DDL["cost_daily"],
        order="ALL",
        partition="month",
        partition_key="date_trunc('month', event_date)::DATE",
    ),
    "cost_monthly": LakeTable("cost_monthly", _DDL["cost_monthly"], order="ALL"),
    "rated_events": LakeTable(
        "rated_events", _DDL["rated_events"], order="event_id", partition="event_date"
    ),
    "rate_card": LakeTable("rate_card", _DDL["rate_card"], order="priority, tier_from"),
    "rate_adjustments": LakeTable("rate_adjustments", _DDL["rate_adjustments"], order="priority"),
    "rate_card_loads": LakeTable("rate_card_loads", _DDL["rate_card_loads"], order="loaded_at"),
}
"""The rollup tables SQL users read from the lake, in views.sql's order (rollup_state stays in
the warehouse)."""
