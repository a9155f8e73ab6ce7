"""Which days a change re-rates: tiered prices reach beyond the touched day, within its month."""

from __future__ import annotations

from datetime import date, timedelta

from etl.costs.days import expand_for_tiers, month_of, next_month
from tests.unit.costs.cards import card_csv

OCTOBER = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
ALL_DAYS = [date(2026, 9, 30), *OCTOBER, date(2026, 11, 1)]
CARD = card_csv(
    "cpu,cpu_core_hours,,USD,0.03,flat,0,month,,2024-01-01,",
    "egress,network_egress_gb,,USD,0,graduated,0,month,,2024-01-01,",
    "egress,network_egress_gb,,USD,0.05,graduated,100,month,,2024-01-01,",
    "req,object_requests,,USD,0.0000005,volume,0,month,,2024-01-01,",
    "req,object_requests,,USD,0.0000004,volume,1000000,month,,2024-01-01,",
    "gpu,gpu_hours,,USD,2,graduated,0,day,,2024-01-01,",
    "gpu,gpu_hours,,USD,1,graduated,10,day,,2024-01-01,",
)


def test_month_bounds() -> None:
    assert month_of(date(2026, 12, 31)) == date(2026, 12, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 1)) == date(2026, 2, 1)


def test_flat_and_day_tiered_meters_rebuild_only_the_touched_day() -> None:
    touched = {date(2026, 10, 10): {"cpu_core_hours", "gpu_hours"}}
    assert expand_for_tiers(touched, CARD, ALL_DAYS) == [date(2026, 10, 10)]


def test_graduated_month_rebuilds_the_rest_of_the_month() -> None:
    touched = {date(2026, 10, 10): {"network_egress_gb"}}
    assert expand_for_tiers(touched, CARD, ALL_DAYS) == OCTOBER[9:]


def test_volume_month_rebuilds_the_whole_month() -> None:
    touched = {date(2026, 10, 10): {"object_requests"}}
    assert expand_for_tiers(touched, CARD, ALL_DAYS) == OCTOBER


def test_without_a_card_only_touched_days() -> None:
    touched = {date(2026, 10, 10): {"object_requests"}, date(2026, 9, 30): {"x"}}
    assert expand_for_tiers(touched, None, ALL_DAYS) == [date(2026, 9, 30), date(2026, 10, 10)]
