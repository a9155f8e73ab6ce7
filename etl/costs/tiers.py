"""Tier math and money rounding, in Python `Decimal` (never float).

Every multiplication (quantity x price, x adjustment) runs at 80 digits of precision; a cost is
rounded half-even to 12 decimal places once per event (`round_money`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

MONEY_PLACES = Decimal("1e-12")
"""The warehouse keeps money and quantities with 12 decimal places."""


def graduated_cost(
    tiers: Sequence[tuple[Decimal, Decimal]], before: Decimal, after: Decimal
) -> Decimal:
    """Cost of the quantity between cumulative positions `before` and `after` on a graduated
    ladder: each unit is priced by the tier it falls in. Exact (no rounding)."""
    total = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 80
        for index, (start, price) in enumerate(tiers):
            end = tiers[index + 1][0] if index + 1 < len(tiers) else None
            low = max(before, start)
            high = after if end is None else min(after, end)
            if high > low:
                total += (high - low) * price
    return total


def volume_price(tiers: Sequence[tuple[Decimal, Decimal]], period_total: Decimal) -> Decimal:
    """Unit price of the tier the period's total quantity reaches (the last tier_from <= total)."""
    price = tiers[0][1]
    for start, tier_price in tiers:
        if period_total >= start:
            price = tier_price
    return price


def round_money(value: Decimal) -> Decimal:
    """`value` rounded half-even to the warehouse's 12 decimal places."""
    with localcontext() as ctx:
        ctx.prec = 80
        return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def adjustment_factor(pct: Decimal) -> Decimal:
    """-12.5 -> 0.875; 10 -> 1.1 (exact)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return (Decimal(100) + pct) / Decimal(100)
