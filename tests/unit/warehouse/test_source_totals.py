"""A FOCUS file's own money totals: the quick sum of its cost texts equals the sum of each
text as the reconciliation reads it (blanks stripped; null, no number or not finite: 0)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.warehouse.focus_reconciliation import _EXACT, _number, _sum, source_totals

_COSTS = st.one_of(
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=18).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: f" {d:E}\u2003"),
    st.sampled_from(
        ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "", " ", "abc", "1_000", "1e400"]
    ),
    st.text(max_size=6),
)


def _reference(texts: list[str | None]) -> Decimal:
    total = Decimal(0)
    for text in texts:
        total = _EXACT.add(total, _number(text))
    return total


def _outcome(add: Callable[[list[str | None]], Decimal], texts: list[str | None]) -> str:
    try:
        return str(add(texts))
    except ArithmeticError as exc:  # beyond the exact context's 400 digits: refused
        return type(exc).__name__


@settings(max_examples=400, deadline=None)
@given(st.lists(_COSTS, max_size=30))
def test_the_quick_sum_is_the_sum_of_each_text_as_read(texts: list[str | None]) -> None:
    assert _outcome(_sum, texts) == _outcome(_reference, texts)


def test_totals_per_currency_and_of_the_rejected_rows() -> None:
    amounts = pl.DataFrame(
        {
            "source_row": [1, 2, 3, 4],
            "currency": ["EUR", "EUR", "USD", "EUR"],
            "billed_cost": ["1.10", "NaN", "2.000000000000000001", " 3 "],
            "effective_cost": ["0.1", "0.2", None, "x"],
        }
    )
    rejects = pl.DataFrame({"source_row": [2, None]}, schema={"source_row": pl.Int64})
    totals = source_totals(amounts, rejects)
    eur, usd = totals.source["EUR"], totals.source["USD"]
    assert (eur.rows, eur.billed, eur.effective) == (3, Decimal("4.10"), Decimal("0.3"))
    assert (usd.rows, usd.billed, usd.effective) == (1, Decimal("2.000000000000000001"), 0)
    assert (totals.rejected["EUR"].rows, totals.rejected["EUR"].effective) == (1, Decimal("0.2"))
