"""The Usage & cost page's filters and month windows (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from etl.jobs.usage_report import ReportError, ReportFilters, change_pct, month_windows

TODAY = date(2026, 12, 1)


def test_blank_filters_are_the_60_days_up_to_today() -> None:
    f = ReportFilters.parse(today=TODAY, start="", end=None, customer=" ", meter="", currency=None)
    assert f == ReportFilters(date(2026, 10, 3), TODAY)


def test_a_given_end_anchors_the_default_range_and_text_is_trimmed() -> None:
    f = ReportFilters.parse(today=TODAY, end="2026-09-30", customer=" c1 ", currency="USD")
    assert f == ReportFilters(date(2026, 8, 2), date(2026, 9, 30), "c1", None, "USD")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("yesterday", None, "start 'yesterday' is not a date (YYYY-MM-DD)"),
        ("2026-09-30", "2026-09-01", "start 2026-09-30 is after end 2026-09-01; give start <= end"),
        ("2020-01-01", "2026-01-01", "2020-01-01..2026-01-01 is 2193 days; the page shows at most 731 days, narrow the range"),
    ],
)  # fmt: skip
def test_bad_ranges_say_what_is_wrong(start: str, end: str | None, message: str) -> None:
    with pytest.raises(ReportError) as err:
        ReportFilters.parse(today=TODAY, start=start, end=end)
    assert str(err.value) == message


def test_month_windows_compare_the_same_days() -> None:
    w = month_windows(date(2026, 3, 31))
    assert (w.this_start, w.previous_start, w.previous_same_day, w.previous_end) == (
        date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28), date(2026, 2, 28),
    )  # fmt: skip
    w = month_windows(date(2026, 1, 15))
    assert (w.previous_start, w.previous_same_day) == (date(2025, 12, 1), date(2025, 12, 15))


def test_change_needs_a_base() -> None:
    assert change_pct(Decimal("15"), Decimal("10")) == Decimal("50")
    assert change_pct(None, Decimal("10")) == Decimal("-100")
    assert change_pct(Decimal("5"), Decimal("0")) is None
    assert change_pct(Decimal("5"), None) is None
