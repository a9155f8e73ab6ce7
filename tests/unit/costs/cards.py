"""Rate cards written as CSV text, for the tests of this package."""

from __future__ import annotations

from etl.costs.rate_cards import RateCard, parse_rate_card

HEADER = "rate_id,meter_name,unit,currency,unit_price,pricing,tier_from,tier_period,match,effective_from,effective_to\n"


def card_csv(*rows: str, header: str = HEADER) -> RateCard:
    """Parse a CSV rate card of `rows` under `header`."""
    return parse_rate_card((header + "\n".join(rows) + "\n").encode(), "card.csv")
