"""The warehouse rating engine (etl.costs.rating, DuckDB SQL) against the Python `decimal`
engine it replaced (tests/unit/costs/oracle.py), on random rate cards and events: every column
of every rated event must be equal, to the last decimal.

Cards: flat, graduated and volume rules (day or month tiers, up to four tiers, prices with up to
12 places), dimension filters (equally specific overlapping matches decided by listing order),
effective windows starting and ending on the events' dates, adjustments by customer, team and
meter. Events: quantities hitting tier boundaries exactly, with 12 decimals, zero and negative,
equal event times, source costs, meters without a price, a random subset of days rebuilt (the
engine reads the rest of a monthly-tiered month itself), partitions split into customer buckets.

RATING_DIFFERENTIAL_EXAMPLES=2000 runs more examples than the default 200.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etl.costs.rate_cards import RateCard, parse_rate_card
from tests.unit.costs.oracle import EVENT_INPUT_SCHEMA, rate_events
from tests.unit.costs.warehouse import rate_in_warehouse

D = Decimal
EXAMPLES = int(os.environ.get("RATING_DIFFERENTIAL_EXAMPLES", "200"))
HEADER = (
    "kind,rate_id,meter_name,unit,currency,unit_price,pricing,tier_from,tier_period,match,"
    "customer_id,team,adjustment_pct,effective_from,effective_to"
)
METERS = ("m1", "m2")
CUSTOMERS = ("c1", "c2", "c3")
DIMENSIONS = {"dc": ("fra1", "ams2"), "gpu": ("H100", "A10"), "team": ("ml", "web")}
# Event days straddle two month ends; effective dates fall on and between them.
FIRST_DAY = date(2026, 9, 28)
EVENT_DAYS = [FIRST_DAY + timedelta(days=i) for i in range(37)]
EDGES = [date(2026, 9, 1), date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 2),
         date(2026, 10, 15), date(2026, 10, 16), date(2026, 11, 1), date(2026, 11, 2)]  # fmt: skip

NICE = st.sampled_from(["0", "1", "5", "10", "50", "90", "100", "100.5", "0.5", "2.5", "1000"])
TWELVE_PLACES = st.decimals(min_value=0, max_value=2000, places=12).map(str)
TINY = st.decimals(min_value=0, max_value=D("0.00001"), places=12).map(str)
# Odd in the 12th place: x 0.5 or 2.5, or a 50 % adjustment, ends exactly on a rounding tie.
ODD = st.decimals(min_value=0, max_value=100, places=11).map(lambda d: str(d + D("5e-12")))
BIG = st.decimals(min_value=0, max_value=10**12, places=3).map(str)
QUANTITY = st.one_of(NICE, NICE, TWELVE_PLACES, ODD, TINY, BIG,
                     st.decimals(min_value=-50, max_value=0, places=6).map(str))  # fmt: skip
PRICE = st.one_of(
    st.sampled_from(["0", "0.05", "0.5", "2.5", "3.20", "0.0000005", "0.000000000001", "1000"]),
    st.decimals(min_value=0, max_value=1000, places=12).map(str),
)
TIER_FROM = st.one_of(NICE, st.decimals(min_value=0, max_value=5000, places=12).map(str))
PCT = st.one_of(
    st.sampled_from(["-15", "8", "-22.5", "0", "12.5", "-99.999999999999", "1000", "-50"]),
    st.decimals(min_value=D("-99.999999999999"), max_value=1000, places=12).map(str),
)


@st.composite
def windows(draw: st.DrawFn) -> tuple[date, date | None]:
    # Mostly in effect for all events, else starting or ending among them.
    start = draw(st.sampled_from([EDGES[0], EDGES[0], *EDGES[:-1]]))
    ends = [d for d in EDGES if d > start]
    return start, draw(st.one_of(st.none(), st.none(), st.sampled_from(ends)))


@st.composite
def matches(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from(sorted(DIMENSIONS)), max_size=2, unique=True))
    return ";".join(f"{k}={draw(st.sampled_from(DIMENSIONS[k]))}" for k in sorted(keys))


@st.composite
def price_rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    pricing = draw(st.sampled_from(["flat", "graduated", "graduated", "volume"]))
    starts = ["0"]
    if pricing != "flat":
        starts += draw(st.lists(TIER_FROM.filter(lambda s: D(s) > 0), max_size=3, unique_by=D))
    start, end = draw(windows())
    return {
        "rate_id": f"r{index}",
        "meter": draw(st.sampled_from(METERS)),
        "currency": draw(st.sampled_from(["USD", "EUR"])),
        "pricing": pricing,
        "period": draw(st.sampled_from(["month", "day"])),
        "match": draw(st.one_of(st.just(""), matches())),
        "tiers": [(tier_from, draw(PRICE)) for tier_from in starts],
        "start": start,
        "end": end,
    }


@st.composite
def adjustments(draw: st.DrawFn, index: int) -> dict[str, Any]:
    customer = draw(st.one_of(st.none(), st.sampled_from(CUSTOMERS)))
    team = draw(st.sampled_from(DIMENSIONS["team"]) if customer is None else
                st.one_of(st.none(), st.sampled_from(DIMENSIONS["team"])))  # fmt: skip
    start, end = draw(windows())
    return {
        "id": f"a{index}",
        "meter": draw(st.one_of(st.none(), st.sampled_from(METERS))),
        "customer": customer,
        "team": team,
        "pct": draw(PCT),
        "start": start,
        "end": end,
    }


def _chain(draw: st.DrawFn, items: list[dict[str, Any]], scope: tuple[str, ...]) -> None:
    """Items sharing a scope get consecutive windows (a card forbids overlapping ones): a price
    change, or an adjustment replaced by the next."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(tuple(item[k] for k in scope), []).append(item)
    for group in groups.values():
        if len(group) < 2:
            continue
        edges = sorted(draw(st.lists(st.sampled_from(EDGES), min_size=len(group) + 1,
                                     max_size=len(group) + 1, unique=True)))  # fmt: skip
        open_end = draw(st.booleans())
        for i, item in enumerate(group):
            item["start"], item["end"] = edges[i], edges[i + 1]
        if open_end:
            group[-1]["end"] = None


def _card_text(prices: list[dict[str, Any]], adjusts: list[dict[str, Any]]) -> str:
    rows = [HEADER]
    for r in prices:
        for tier_from, price in r["tiers"]:
            rows.append(
                f"price,{r['rate_id']},{r['meter']},u,{r['currency']},{price},{r['pricing']},"
                f"{tier_from},{r['period']},{r['match']},,,,{r['start']},{r['end'] or ''}"
            )
    for a in adjusts:
        rows.append(
            f"adjustment,{a['id']},{a['meter'] or ''},,,,,,,,{a['customer'] or ''},"
            f"{a['team'] or ''},{a['pct']},{a['start']},{a['end'] or ''}"
        )
    return "\n".join(rows) + "\n"


@st.composite
def cards(draw: st.DrawFn) -> RateCard:
    prices = [draw(price_rules(i)) for i in range(draw(st.integers(2, 7)))]
    _chain(draw, prices, ("meter", "match"))
    adjusts = [draw(adjustments(i)) for i in range(draw(st.integers(0, 4)))]
    _chain(draw, adjusts, ("customer", "team", "meter"))
    return parse_rate_card(_card_text(prices, adjusts).encode(), "card.csv")


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 40))):
        day = draw(st.sampled_from(EVENT_DAYS))
        when = datetime(
            day.year, day.month, day.day, draw(st.sampled_from([0, 12, 23])), tzinfo=UTC
        )
        keys = draw(st.lists(st.sampled_from(sorted(DIMENSIONS)), unique=True))
        sourced = draw(st.integers(0, 9)) == 0
        cost = D(draw(TWELVE_PLACES)) if sourced else None
        out.append({
            "event_id": f"e{i:03d}",
            "customer_id": draw(st.sampled_from(CUSTOMERS)),
            "meter_name": draw(st.sampled_from([*METERS, *METERS, "unpriced"])),
            "quantity": D(draw(QUANTITY)),
            "event_time": when,
            "event_date": day,
            "dimensions": [{"key": k, "value": draw(st.sampled_from(DIMENSIONS[k]))} for k in sorted(keys)],
            "billed_cost": cost,
            "effective_cost": draw(st.sampled_from([cost, None])) if sourced else None,
            "currency": "EUR" if sourced else None,
        })  # fmt: skip
    return out


def assert_same_rating(
    card: RateCard, rows: list[dict[str, Any]], days: list[date], max_events: int = 1000
) -> None:
    frame = pl.DataFrame(rows, schema=EVENT_INPUT_SCHEMA)
    want = rate_events(frame, card).filter(pl.col("event_date").is_in(days)).sort("event_id")
    got = rate_in_warehouse(card, frame, days, max_events)
    assert_frame_equal(got, want, check_exact=True)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(card=cards(), rows=events(), data=st.data())
def test_warehouse_rating_equals_the_decimal_engine(
    card: RateCard, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    dates = sorted({r["event_date"] for r in rows})
    days = data.draw(st.lists(st.sampled_from(dates), min_size=1, unique=True), label="days")
    max_events = data.draw(st.sampled_from([1000, 1000, 8, 3]), label="max_events")
    assert_same_rating(card, rows, sorted(days), max_events)
