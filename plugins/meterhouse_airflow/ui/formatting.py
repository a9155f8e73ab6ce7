"""How the Usage & cost page writes numbers: money to the cent, quantities to 3 decimals,
changes to 0.1 %, thousands separated. The exact value travels beside it (`data-value`)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
TENTH = Decimal("0.1")


def money(value: Decimal | None) -> str:
    """12345.675 -> '12,345.68' (half up); None -> '–'."""
    if value is None:
        return "–"
    return f"{value.quantize(CENT, ROUND_HALF_UP):,}"


def quantity(value: Decimal | int | None) -> str:
    """12345.6789 -> '12,345.679'; trailing zeros dropped (3.500 -> '3.5')."""
    if value is None:
        return "–"
    text = f"{Decimal(value).quantize(MILLI, ROUND_HALF_UP):,}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def count(value: int | None) -> str:
    """1234 -> '1,234'."""
    return "–" if value is None else f"{value:,}"


def percent(value: Decimal | None) -> str:
    """12.345 -> '+12.3 %'; None (no base to compare with) -> 'new'."""
    if value is None:
        return "new"
    rounded = value.quantize(TENTH, ROUND_HALF_UP) + 0  # + 0: no '-0.0'
    return f"{'+' if rounded > 0 else ''}{rounded} %"
