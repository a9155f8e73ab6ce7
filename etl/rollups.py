"""The warehouse's second SQL module: rate cards, rated events, cost rollups, views, reconciliation.

Functions taking `con` receive a DuckDB connection from `Warehouse.writer()` and never commit on
their own except `rebuild_days` and `store_rate_card`, which each run one transaction. Values
always travel as parameters; the only identifiers in SQL are fixed names.

How the days to rebuild are found: `rollup_state` remembers, per event day and meter, a
fingerprint of the events rolled up (count, newest `ingested_at`, xor of row hashes). A day whose
current events differ from it (new, late, replaced or removed events) is pending. Graduated and
volume tiers accumulate over a month, so a pending day of a tiered meter also re-rates the later
days of its month (graduated) or the whole month (volume).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from contracts.rate_card import ADJUSTMENT_COLUMNS, PRICE_COLUMNS, RATED_COLUMNS
from etl.errors import TerminalError
from etl.rating import (
    EVENT_INPUT_SCHEMA,
    RateCard,
    RateCardError,
    changed_period,
    parse_rate_card,
    rate_events,
    summarize_unrated,
)
from etl.settings import DEFAULT_ROLLUP_DIMENSIONS, Settings

if TYPE_CHECKING:
    from etl.sources.stores import S3Config

log = logging.getLogger("meterhouse.rollups")


_MONEY = "DECIMAL(38, 12)"
# cost_daily and cost_monthly share their columns after the period key.
_ROLLUP_COLUMNS = f"""
        customer_id      VARCHAR NOT NULL,
        meter_name       VARCHAR NOT NULL,
        dimensions       MAP(VARCHAR, VARCHAR) NOT NULL,
        unit             VARCHAR,
        currency         VARCHAR,
        quantity         {_MONEY} NOT NULL,
        event_count      BIGINT NOT NULL,
        rated_cost       {_MONEY},
        billed_cost      {_MONEY},
        effective_cost   {_MONEY},
        cost             {_MONEY},
        unrated_events   BIGINT NOT NULL,
        unrated_quantity {_MONEY}"""

_TABLE_DDL: tuple[str, ...] = (
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
VIEW_DDL: tuple[str, ...] = (
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
ROLLUP_DDL: tuple[str, ...] = _TABLE_DDL + VIEW_DDL

# The cost of one event: rated where rating priced it, else what its source billed (effective
# cost first, FinOps' basis for showback). Used by the rollup and by its reconciliation.
_EVENT_COST = (
    "CASE WHEN r.rate_status = 'rated' THEN r.rated_cost "
    "ELSE coalesce(e.effective_cost, e.billed_cost) END"
)
_SUM_COLUMNS = (
    "event_count",
    "quantity",
    "rated_cost",
    "billed_cost",
    "effective_cost",
    "cost",
    "unrated_events",
)


class ReconciliationError(TerminalError):
    """Rollup totals differ from the events beneath them; the rebuild was rolled back."""


def ensure_rollup_schema(con: Any) -> None:
    """Create the rating and rollup tables and (re)create their views."""
    for ddl in ROLLUP_DDL:
        con.execute(ddl)


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


# -- rate cards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateCardLoad:
    """What loading a rate card changed: the period whose costs it would change when re-rated."""

    version: str
    previous_version: str | None
    source_uri: str
    prices: int
    adjustments: int
    affected_from: date | None
    affected_to: date | None  # exclusive

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("affected_from", "affected_to"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def read_rate_card(con: Any) -> RateCard | None:
    """The current rate card, or None if none was loaded."""
    versions = con.execute("SELECT DISTINCT version FROM rate_card").fetchall()
    if not versions:
        return None
    cols = ", ".join(
        c if c != "dimension_match" else "map_entries(dimension_match) AS dimension_match"
        for c in PRICE_COLUMNS
    )
    prices = con.execute(f"SELECT {cols} FROM rate_card ORDER BY priority, tier_from").pl()  # noqa: S608 - fixed column names
    adjustments = con.execute(
        f"SELECT {', '.join(ADJUSTMENT_COLUMNS)} FROM rate_adjustments ORDER BY priority"  # noqa: S608
    ).pl()
    card = RateCard.empty()
    return RateCard(
        prices.cast(dict(card.prices.schema)).select(PRICE_COLUMNS),
        adjustments.cast(dict(card.adjustments.schema)).select(ADJUSTMENT_COLUMNS),
        str(versions[0][0]),
    )


def _event_range(con: Any) -> tuple[date | None, date | None]:
    low, high = con.execute("SELECT min(event_date), max(event_date) FROM meter_events").fetchone()
    return low, high


def store_rate_card(con: Any, card: RateCard, source_uri: str) -> RateCardLoad:
    """Replace the current rate card with `card` in one transaction and record the load.

    Costs already rolled up are not touched: re-rating is a separate, explicit step over the
    returned affected period (clipped to the days that have events).
    """
    ensure_rollup_schema(con)
    old = read_rate_card(con)
    period = changed_period(old, card)
    low, high = _event_range(con)
    affected_from = affected_to = None
    if period is not None and low is not None and high is not None:
        start = max(period[0], low)
        end = (
            high + timedelta(days=1)
            if period[1] is None
            else min(period[1], high + timedelta(days=1))
        )
        if start < end:
            affected_from, affected_to = start, end
    load = RateCardLoad(
        card.version,
        old.version if old else None,
        source_uri,
        card.prices.height,
        card.adjustments.height,
        affected_from,
        affected_to,
    )
    prices = card.prices.with_columns(pl.lit(card.version).alias("version"))
    adjustments = card.adjustments.with_columns(pl.lit(card.version).alias("version"))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM rate_card")
        con.register("incoming_prices", prices.to_arrow())
        cols = ", ".join(PRICE_COLUMNS + ["version"])
        select = cols.replace("dimension_match", "map_from_entries(dimension_match)")
        con.execute(f"INSERT INTO rate_card ({cols}) SELECT {select} FROM incoming_prices")  # noqa: S608
        con.execute("DELETE FROM rate_adjustments")
        con.register("incoming_adjustments", adjustments.to_arrow())
        acols = ", ".join(ADJUSTMENT_COLUMNS + ["version"])
        insert = f"INSERT INTO rate_adjustments ({acols}) SELECT {acols} FROM incoming_adjustments"  # noqa: S608
        con.execute(insert)
        con.execute(
            """INSERT INTO rate_card_loads (version, previous_version, source_uri, prices, adjustments,
                   affected_from, affected_to, loaded_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [load.version, load.previous_version, source_uri, load.prices, load.adjustments,
             affected_from, affected_to, _now()],
        )  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("incoming_prices")
        con.unregister("incoming_adjustments")
    log.info(
        "step=rate_card_load source=%s version=%s previous=%s affected_from=%s affected_to=%s",
        source_uri, load.version, load.previous_version, affected_from, affected_to,
    )  # fmt: skip
    return load


def last_rate_card_period(con: Any) -> tuple[date, date] | None:
    """The affected period of the most recent rate card load, if it changed anything."""
    row = con.execute(
        "SELECT affected_from, affected_to FROM rate_card_loads ORDER BY loaded_at DESC LIMIT 1"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


# -- which days to rebuild ----------------------------------------------------------------------

_FINGERPRINT = """
    SELECT event_date, meter_name, count(*) AS events, max(ingested_at) AS max_ingested_at,
           bit_xor(hash(event_id, source_uri, source_row)) AS fingerprint
    FROM meter_events
"""


def pending_days(con: Any) -> dict[date, set[str]]:
    """Days (and their meters) whose events changed since they were last rolled up."""
    rows = con.execute(
        f"""WITH current AS ({_FINGERPRINT} GROUP BY event_date, meter_name)
            SELECT coalesce(c.event_date, s.event_date), coalesce(c.meter_name, s.meter_name)
            FROM current c FULL JOIN rollup_state s
              ON c.event_date = s.event_date AND c.meter_name = s.meter_name
            WHERE c.event_date IS NULL OR s.event_date IS NULL OR c.events <> s.events
               OR c.max_ingested_at <> s.max_ingested_at OR c.fingerprint <> s.fingerprint"""  # noqa: S608
    ).fetchall()
    out: dict[date, set[str]] = {}
    for day, meter in rows:
        out.setdefault(day, set()).add(meter)
    return out


def known_days(con: Any, start: date | None = None, end: date | None = None) -> list[date]:
    """Days with events or with rollup state, optionally within [start, end] (inclusive)."""
    rows = con.execute(
        """SELECT day FROM (
             SELECT DISTINCT event_date AS day FROM meter_events
             UNION SELECT DISTINCT event_date FROM rollup_state)
           WHERE (?::DATE IS NULL OR day >= ?::DATE) AND (?::DATE IS NULL OR day <= ?::DATE)
           ORDER BY day""",
        [start, start, end, end],
    ).fetchall()
    return [r[0] for r in rows]


def expand_for_tiers(
    touched: dict[date, set[str]], card: RateCard | None, all_days: Sequence[date]
) -> list[date]:
    """Touched days plus the days whose tiered costs they change.

    A graduated price depends on the quantity used earlier in its month, so a change on day D
    re-rates D and the later days of that month; a volume price depends on the month's total, so
    the whole month. Day-period tiers and flat prices change nothing beyond the day itself.
    """
    days = set(touched)
    if card is None:
        return sorted(days)
    tiered = card.tiered_rules().filter(pl.col("tier_period") == "month")
    for day, meters in touched.items():
        month, next_month = _month(day), _next_month(_month(day))
        for rule in tiered.iter_rows(named=True):
            if rule["meter_name"] not in meters:
                continue
            if rule["effective_from"] >= next_month or (
                rule["effective_to"] is not None and rule["effective_to"] <= month
            ):
                continue
            first = month if rule["pricing"] == "volume" else day
            days.update(d for d in all_days if first <= d < next_month)
    return sorted(days)


def plan_days(
    con: Any,
    *,
    start: date | None = None,
    end: date | None = None,
    rerate: bool = False,
) -> list[date]:
    """Days to rebuild: pending days, plus [start, end] and the last rate card's period on request."""
    ensure_rollup_schema(con)
    touched = pending_days(con)
    requested: list[date] = []
    if start is not None or end is not None:
        requested += known_days(con, start or end, end or start)
    if rerate:
        period = last_rate_card_period(con)
        if period is not None:
            requested += known_days(con, period[0], period[1] - timedelta(days=1))
    meters = {r[0] for r in con.execute("SELECT DISTINCT meter_name FROM rate_card").fetchall()}
    for day in requested:
        touched.setdefault(day, set()).update(meters)
    return expand_for_tiers(touched, read_rate_card(con), known_days(con))


# -- rebuilding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupReport:
    """What one rebuild did."""

    days: list[str]
    months: list[str]
    events: int = 0
    rated: int = 0
    source_cost: int = 0
    unrated: int = 0
    unrated_meters: dict[str, int] = field(default_factory=dict)
    cost_by_currency: dict[str, str] = field(default_factory=dict)
    rate_card_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _days_table(con: Any, days: Sequence[date]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rollup_days AS SELECT unnest(?::DATE[]) AS day", [list(days)]
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rollup_months AS SELECT DISTINCT date_trunc('month', day)::DATE AS month FROM rollup_days"
    )


def _events_for_rating(con: Any, card: RateCard | None) -> pl.DataFrame:
    """Events of the rebuilt days, plus, for monthly-tiered meters, the rest of their months
    (the tiers need every event of the period to know where each one falls)."""
    tiered_meters: list[str] = []
    if card is not None:
        tiered = card.tiered_rules().filter(pl.col("tier_period") == "month")
        tiered_meters = sorted(set(tiered["meter_name"].to_list()))
    frame = con.execute(
        """SELECT event_id, customer_id, meter_name, quantity, event_time, event_date,
                  map_entries(dimensions) AS dimensions, billed_cost, effective_cost, currency
           FROM meter_events
           WHERE event_date IN (SELECT day FROM rollup_days)
              OR (list_contains(?::VARCHAR[], meter_name)
                  AND date_trunc('month', event_date)::DATE IN (SELECT month FROM rollup_months))""",
        [tiered_meters],
    ).pl()
    out: pl.DataFrame = frame.cast(dict(EVENT_INPUT_SCHEMA)).select(list(EVENT_INPUT_SCHEMA))
    return out


def rebuild_days(
    con: Any,
    days: Sequence[date],
    *,
    dimensions: Sequence[str] = DEFAULT_ROLLUP_DIMENSIONS,
) -> RollupReport:
    """Re-rate and replace the rollups of `days` (and of their months) in one transaction.

    Rated events and `cost_daily` rows of these days are deleted and rebuilt from the events
    and the current rate card, `cost_monthly` rows of their months are rebuilt from `cost_daily`,
    the result is reconciled against the events, and `rollup_state` remembers what was rolled up.
    Nothing is incremented, so a rebuild of the same days with the same inputs changes nothing.
    """
    days = sorted(set(days))
    months = sorted({_month(d) for d in days})
    if not days:
        return RollupReport([], [])
    ensure_rollup_schema(con)
    card = read_rate_card(con)
    con.execute("BEGIN TRANSACTION")
    try:
        _days_table(con, days)
        events = _events_for_rating(con, card)
        rated = rate_events(events, card or RateCard.empty()).filter(
            pl.col("event_date").is_in(days)
        )
        con.execute("DELETE FROM rated_events WHERE event_date IN (SELECT day FROM rollup_days)")
        con.register("incoming_rated", rated.to_arrow())
        cols = ", ".join(RATED_COLUMNS)
        con.execute(f"INSERT INTO rated_events ({cols}) SELECT {cols} FROM incoming_rated")  # noqa: S608
        con.unregister("incoming_rated")
        _rebuild_cost_daily(con, dimensions)
        _rebuild_cost_monthly(con)
        expected = {
            d: Decimal(str(c)) if c is not None else None
            for d, c in rated.group_by("event_date").agg(pl.col("rated_cost").sum()).iter_rows()
        }
        reconcile(con, days, expected_rated=expected)
        _mark_rolled_up(con, card.version if card else None)
        report = _report(con, days, months, events, rated, card)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info(
        "step=rollup days=%d months=%d events=%d rated=%d source_cost=%d unrated=%d unrated_meters=%s",
        len(days), len(months), report.events, report.rated, report.source_cost, report.unrated,
        ",".join(f"{m}:{n}" for m, n in report.unrated_meters.items()) or "-",
    )  # fmt: skip
    if report.unrated:
        log.warning(
            "step=rollup unrated_events=%d meters=%s: no price matches them; they have no cost "
            "until the rate card prices them (view unrated_usage)",
            report.unrated, ", ".join(f"{m} ({n})" for m, n in report.unrated_meters.items()),
        )  # fmt: skip
    return report


def _rebuild_cost_daily(con: Any, dimensions: Sequence[str]) -> None:
    con.execute("DELETE FROM cost_daily WHERE event_date IN (SELECT day FROM rollup_days)")
    con.execute(
        f"""INSERT INTO cost_daily
            SELECT e.event_date, e.customer_id, e.meter_name,
                   map_from_entries(list_transform(?::VARCHAR[], lambda k: {{'key': k, 'value': e.dimensions[k]}})) AS dims,
                   e.unit, coalesce(r.currency, e.currency) AS cur,
                   sum(e.quantity), count(*),
                   sum(r.rated_cost), sum(e.billed_cost), sum(e.effective_cost), sum({_EVENT_COST}),
                   count(*) FILTER (WHERE r.rate_status = 'unrated'),
                   sum(e.quantity) FILTER (WHERE r.rate_status = 'unrated')
            FROM meter_events e JOIN rated_events r USING (event_id)
            WHERE e.event_date IN (SELECT day FROM rollup_days)
            GROUP BY e.event_date, e.customer_id, e.meter_name, dims, e.unit, cur""",  # noqa: S608 - fixed SQL
        [list(dimensions)],
    )


def _rebuild_cost_monthly(con: Any) -> None:
    con.execute("DELETE FROM cost_monthly WHERE month IN (SELECT month FROM rollup_months)")
    con.execute(
        """INSERT INTO cost_monthly
           SELECT date_trunc('month', event_date)::DATE AS m, customer_id, meter_name, dimensions, unit, currency,
                  sum(quantity), sum(event_count), sum(rated_cost), sum(billed_cost), sum(effective_cost),
                  sum(cost), sum(unrated_events), sum(unrated_quantity), count(DISTINCT event_date)
           FROM cost_daily
           WHERE date_trunc('month', event_date)::DATE IN (SELECT month FROM rollup_months)
           GROUP BY m, customer_id, meter_name, dimensions, unit, currency"""
    )


def _mark_rolled_up(con: Any, version: str | None) -> None:
    con.execute("DELETE FROM rollup_state WHERE event_date IN (SELECT day FROM rollup_days)")
    con.execute(
        f"""INSERT INTO rollup_state
            SELECT event_date, meter_name, events, max_ingested_at, fingerprint, ?, ?
            FROM ({_FINGERPRINT} WHERE event_date IN (SELECT day FROM rollup_days)
                  GROUP BY event_date, meter_name)""",  # noqa: S608 - fixed SQL
        [version, _now()],
    )


def _report(
    con: Any,
    days: list[date],
    months: list[date],
    events: pl.DataFrame,
    rated: pl.DataFrame,
    card: RateCard | None,
) -> RollupReport:
    statuses = dict(rated.group_by("rate_status").len().iter_rows())
    unrated = summarize_unrated(events, rated)
    totals = con.execute(
        """SELECT currency, sum(cost) FROM cost_daily
           WHERE event_date IN (SELECT day FROM rollup_days) AND currency IS NOT NULL
           GROUP BY currency ORDER BY currency"""
    ).fetchall()
    return RollupReport(
        days=[d.isoformat() for d in days],
        months=[m.isoformat() for m in months],
        events=rated.height,
        rated=int(statuses.get("rated", 0)),
        source_cost=int(statuses.get("source_cost", 0)),
        unrated=unrated.events,
        unrated_meters=unrated.meters,
        cost_by_currency={str(c): format(v, "f") for c, v in totals if v is not None},
        rate_card_version=card.version if card else None,
    )


# -- reconciliation ----------------------------------------------------------------------------


def _differences(
    label: str, rollup: dict[Any, tuple[Any, ...]], truth: dict[Any, tuple[Any, ...]], source: str
) -> list[str]:
    problems = []
    missing = (None,) * len(_SUM_COLUMNS)
    for key in sorted(set(rollup) | set(truth)):
        got, want = rollup.get(key, missing), truth.get(key, missing)
        for column, g, w in zip(_SUM_COLUMNS, got, want, strict=True):
            if g != w:
                problems.append(
                    f"{label} {key}: {column} rollup={g} {source}={w} difference={(g or 0) - (w or 0)}"
                )
    return problems


def reconcile(
    con: Any, days: Iterable[date], *, expected_rated: dict[date, Decimal | None] | None = None
) -> None:
    """Check that every day's `cost_daily` totals equal the sums of its events (and, if given,
    of the rating output), and every month's `cost_monthly` the sums of its days; exact decimals.

    Raises ReconciliationError naming each day or month, column and difference.
    """
    days = sorted(set(days))
    if not days:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE reconcile_days AS SELECT unnest(?::DATE[]) AS day", [days]
    )
    sums = ", ".join(f"sum({c})" for c in _SUM_COLUMNS)
    rollup = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"SELECT event_date, {sums} FROM cost_daily WHERE event_date IN (SELECT day FROM reconcile_days) GROUP BY 1"  # noqa: S608
        ).fetchall()
    }
    truth = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"""SELECT e.event_date, count(*), sum(e.quantity), sum(r.rated_cost), sum(e.billed_cost),
                       sum(e.effective_cost), sum({_EVENT_COST}),
                       count(*) FILTER (WHERE r.rate_status = 'unrated')
                FROM meter_events e LEFT JOIN rated_events r USING (event_id)
                WHERE e.event_date IN (SELECT day FROM reconcile_days) GROUP BY 1"""  # noqa: S608
        ).fetchall()
    }
    problems = _differences("day", rollup, truth, "events")
    unrated_rows = con.execute(
        """SELECT e.event_date, count(*) FILTER (WHERE r.event_id IS NULL), count(r.event_id) - count(DISTINCT r.event_id)
           FROM meter_events e LEFT JOIN rated_events r USING (event_id)
           WHERE e.event_date IN (SELECT day FROM reconcile_days) GROUP BY 1"""
    ).fetchall()
    for day, missing, doubled in unrated_rows:
        if missing or doubled:
            problems.append(
                f"day {day}: {missing} events have no rating row, {doubled} have several"
            )
    if expected_rated is not None:
        for day in days:
            got = rollup.get(day, (None,) * len(_SUM_COLUMNS))[2]
            want = expected_rated.get(day)
            if (got or 0) != (want or 0):
                problems.append(
                    f"day {day}: rated_cost rollup={got} rating={want} difference={(got or 0) - (want or 0)}"
                )
    month_sums = ", ".join(f"sum({c})" for c in _SUM_COLUMNS)
    monthly = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"""SELECT month, {month_sums} FROM cost_monthly
                WHERE month IN (SELECT DISTINCT date_trunc('month', day)::DATE FROM reconcile_days) GROUP BY 1"""  # noqa: S608
        ).fetchall()
    }
    from_days = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            f"""SELECT date_trunc('month', event_date)::DATE, {month_sums} FROM cost_daily
                WHERE date_trunc('month', event_date)::DATE IN
                      (SELECT DISTINCT date_trunc('month', day)::DATE FROM reconcile_days) GROUP BY 1"""  # noqa: S608
        ).fetchall()
    }
    problems += _differences("month", monthly, from_days, "days")
    if problems:
        raise ReconciliationError(
            f"rollups do not reconcile with the events beneath them ({len(problems)} differences); "
            "the rebuild was rolled back:\n  " + "\n  ".join(problems[:20])
        )
    log.info("step=reconcile days=%d status=ok", len(days))


# -- the read path: Parquet files in the lake, views in views.sql ------------------------------

# Published tables: name -> the hive partition column its files are split by (None: one file).
LAKE_TABLES: dict[str, str | None] = {
    "cost_daily": "month",
    "cost_monthly": None,
    "rated_events": "event_date",
    "rate_card": None,
    "rate_adjustments": None,
    "rate_card_loads": None,
}
_TABLE_NAMES = ("rate_card", "rate_adjustments", "rate_card_loads", "rated_events",
                "cost_daily", "cost_monthly", "rollup_state")  # fmt: skip


def _lake_literal(path: Path) -> str:
    # Only for paths from configuration (the lake folder), never for values from files.
    return "'" + str(path).replace("'", "''") + "'"


def rollup_views_sql(lake: Path | None) -> list[str]:
    """Statements that define the rollup tables and views over the lake (for views.sql).

    A table with no published file yet is created empty, so the documented views always answer.
    """
    ddl = dict(zip(_TABLE_NAMES, _TABLE_DDL, strict=True))
    lines: list[str] = []
    for name, partition in LAKE_TABLES.items():
        folder = lake.resolve() / name if lake is not None else None
        pattern = f"{partition}=*/*.parquet" if partition else "part-0.parquet"
        if folder is not None and any(folder.glob(pattern)):
            columns = ddl[name].split("(", 1)[1]
            names = [
                c.split()[0]
                for c in columns.splitlines()
                if c.strip() and not c.strip().startswith(")")
            ]
            source = f"read_parquet({_lake_literal(folder / pattern)}"
            if partition:
                kind = "DATE"
                source += f", hive_partitioning = true, hive_types = {{'{partition}': {kind}}}"
            lines.append(
                f"CREATE OR REPLACE VIEW {name} AS SELECT {', '.join(names)} FROM {source});"  # noqa: S608 - configured path, fixed names
            )
        else:
            lines.append(
                ddl[name].replace("CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TABLE") + ";"
            )
    lines += [view + ";" for view in VIEW_DDL]
    return lines


def publish_rollups(
    warehouse: Any, con: Any, days: Iterable[date] = (), months: Iterable[date] = ()
) -> None:
    """Rewrite the lake files of the rebuilt days and months and of the small tables, then
    views.sql. Each file is replaced atomically (temp file + rename), never deleted."""
    from etl.warehouse import _write_parquet_atomically

    lake = Path(warehouse.lake)
    for month in sorted(set(months)):
        table = con.execute(
            "SELECT * FROM cost_daily WHERE date_trunc('month', event_date)::DATE = ? ORDER BY ALL",
            [month],
        ).to_arrow_table()
        _write_parquet_atomically(
            table, lake / "cost_daily" / f"month={month.isoformat()}" / "part-0.parquet"
        )
    for day in sorted(set(days)):
        table = con.execute(
            "SELECT * EXCLUDE (event_date) FROM rated_events WHERE event_date = ? ORDER BY event_id",
            [day],
        ).to_arrow_table()
        _write_parquet_atomically(
            table, lake / "rated_events" / f"event_date={day.isoformat()}" / "part-0.parquet"
        )
    for name, order in (("cost_monthly", "ALL"), ("rate_card", "priority, tier_from"),
                        ("rate_adjustments", "priority"), ("rate_card_loads", "loaded_at")):  # fmt: skip
        table = con.execute(f"SELECT * FROM {name} ORDER BY {order}").to_arrow_table()  # noqa: S608 - fixed names
        _write_parquet_atomically(table, lake / name / "part-0.parquet")
    # No small tables: views.sql is rewritten (plus any partition a load left pending).
    warehouse.publish_lake(tables=[])


# -- entry points for the CLI and the DAG (plain values in and out, XCom-friendly) ------------


def _read_object(uri: str, s3: S3Config | None) -> bytes:
    from etl.sources.stores import open_source

    store, key = open_source(uri, s3)
    for info in store.list(key):
        if info.key == key:
            return store.read(info)
    raise RateCardError(f"rate card {uri} not found; give an s3://bucket/key or a local file")


def _warehouse(settings: Settings | None) -> Any:
    from etl.warehouse import Warehouse

    settings = settings or Settings.from_env()
    return Warehouse(settings.warehouse_path, settings.lake_path)


def load_rate_card(
    uri: str, *, settings: Settings | None = None, s3: S3Config | None = None
) -> dict[str, Any]:
    """Read, validate and store a rate card from S3 or a local path; costs are not re-rated."""
    card = parse_rate_card(_read_object(uri, s3), uri)
    warehouse = _warehouse(settings)
    with warehouse.writer() as con:
        loaded = store_rate_card(con, card, uri).to_dict()
        publish_rollups(warehouse, con)
    return loaded


def _parse_day(value: str | date | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TerminalError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from exc


def plan_rollup(
    *,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    rerate: bool = False,
    settings: Settings | None = None,
) -> list[str]:
    """ISO dates to rebuild: pending days, a requested range, the last rate card's period."""
    start, end = _parse_day(from_date, "from_date"), _parse_day(to_date, "to_date")
    if start and end and end < start:
        raise TerminalError(f"to_date {end} is before from_date {start}")
    with _warehouse(settings).writer() as con:
        days = plan_days(con, start=start, end=end, rerate=rerate)
    log.info(
        "step=plan_rollup days=%d first=%s last=%s",
        len(days),
        days[0] if days else "-",
        days[-1] if days else "-",
    )
    return [d.isoformat() for d in days]


def run_rollup(
    days: Sequence[str],
    *,
    rerate: bool = False,
    settings: Settings | None = None,
    dimensions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Rebuild the given days (ISO dates); returns the RollupReport as a dict."""
    parsed = [date.fromisoformat(d) for d in days]
    settings = settings or Settings.from_env()
    warehouse = _warehouse(settings)
    with warehouse.writer() as con:
        report = rebuild_days(con, parsed, dimensions=dimensions or settings.rollup_dimensions)
        if parsed:
            publish_rollups(warehouse, con, parsed, [_month(d) for d in parsed])
        if rerate:
            con.execute(
                "UPDATE rate_card_loads SET rerated_at = ? WHERE loaded_at = (SELECT max(loaded_at) FROM rate_card_loads)",
                [_now()],
            )
    return report.to_dict()


def rollup(
    *,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    rerate: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Plan and rebuild in one go (the CLI path)."""
    days = plan_rollup(from_date=from_date, to_date=to_date, rerate=rerate, settings=settings)
    return run_rollup(days, rerate=rerate, settings=settings)
