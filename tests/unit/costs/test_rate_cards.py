"""The rate card contract: CSV and YAML cards, the errors of bad cards, what a new card reprices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from etl.costs.rate_cards import RateCardError, changed_period, parse_rate_card
from tests.unit.costs.cards import card_csv

D = Decimal


def test_yaml_and_csv_cards_are_the_same_and_never_float() -> None:
    yaml_card = parse_rate_card(
        b"""currency: usd
prices:
  - rate_id: req
    meter_name: object_requests
    pricing: volume
    effective_from: 2024-01-01
    tiers:
      - {tier_from: 0, unit_price: 0.0000005}
      - {tier_from: 1000000, unit_price: 0.1}
  - rate_id: gpu
    meter_name: gpu_hours
    match: {gpu_model: H100}
    unit_price: 0.3
    effective_from: 2024-01-01
""",
        "card.yaml",
    )
    csv_card = card_csv(
        "req,object_requests,,USD,0.0000005,volume,0,month,,2024-01-01,",
        "req,object_requests,,USD,0.1,volume,1000000,month,,2024-01-01,",
        "gpu,gpu_hours,,USD,0.3,flat,0,month,gpu_model=H100,2024-01-01,",
    )
    cols = ["rate_id", "currency", "pricing", "tier_from", "unit_price", "dimension_match"]
    assert yaml_card.prices.select(cols).to_dicts() == csv_card.prices.select(cols).to_dicts()
    # 0.1 + 0.2 style exactness: the text "0.3" is exactly Decimal("0.3").
    assert yaml_card.prices["unit_price"].to_list()[2] == D("0.3")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["cpu,cpu_core_hours,,USD,abc,flat,0,month,,2024-01-01,"],
            "card.csv row 1: unit_price 'abc' is not a decimal number",
        ),
        (
            ["cpu,cpu_core_hours,,USD,0.0000000000001,flat,0,month,,2024-01-01,"],
            "card.csv row 1: unit_price '0.0000000000001' has more than 12 decimal places",
        ),
        (
            [
                "cpu,cpu_core_hours,,USD,0.03,flat,0,month,,2024-01-01,",
                "cpu2,cpu_core_hours,,USD,0.02,flat,0,month,,2025-01-01,",
            ],
            "card.csv row 2: rates 'cpu' and 'cpu2' both price cpu_core_hours for the same match on overlapping dates",
        ),
        (
            [
                "cpu,cpu_core_hours,,USD,0.03,flat,0,month,,2024-01-01,",
                "cpu,cpu_core_hours,,USD,0.02,flat,10,month,,2024-01-01,",
            ],
            "rate 'cpu' is flat but has 2 tiers",
        ),
        (
            ["eg,network_egress_gb,,USD,0.05,graduated,100,month,,2024-01-01,"],
            "the first tier of rate 'eg' must start at tier_from 0",
        ),
        (
            ["cpu,cpu_core_hours,,USD,0.03,flat,0,month,,2024-01-01,2023-01-01"],
            "effective_window_order",
        ),
        (
            ["cpu,cpu_core_hours,,DOLLARS,0.03,flat,0,month,,2024-01-01,"],
            "currency 'DOLLARS' fails str_matches",
        ),
        (
            ["cpu,cpu_core_hours,,USD,-0.03,flat,0,month,,2024-01-01,"],
            "unit_price",
        ),
        (
            ["gpu,gpu_hours,,USD,1,flat,0,month,gpu_model,2024-01-01,"],
            "card.csv row 1: match 'gpu_model' must be key=value pairs",
        ),
    ],
)
def test_bad_rate_cards_fail_with_row_and_reason(rows: list[str], message: str) -> None:
    with pytest.raises(RateCardError) as err:
        card_csv(*rows)
    assert message in str(err.value)


def test_unknown_csv_column_is_named() -> None:
    with pytest.raises(RateCardError, match="unknown column\\(s\\) price_eur"):
        parse_rate_card(b"rate_id,meter_name,price_eur\nx,y,1\n", "card.csv")


def test_changed_period_covers_only_the_rules_that_differ() -> None:
    old = card_csv(
        "cpu,cpu_core_hours,,USD,0.034,flat,0,month,,2024-01-01,",
        "mem,memory_gb_hours,,USD,0.004,flat,0,month,,2024-01-01,",
    )
    new = card_csv(
        "cpu,cpu_core_hours,,USD,0.034,flat,0,month,,2024-01-01,2026-10-15",
        "cpu-new,cpu_core_hours,,USD,0.030,flat,0,month,,2026-10-15,",
        "mem,memory_gb_hours,,USD,0.004,flat,0,month,,2024-01-01,",
    )
    assert changed_period(old, old) is None
    assert changed_period(old, new) == (date(2024, 1, 1), None)
    newer = card_csv(
        "cpu,cpu_core_hours,,USD,0.034,flat,0,month,,2024-01-01,2026-10-15",
        "cpu-new,cpu_core_hours,,USD,0.029,flat,0,month,,2026-10-15,2026-11-01",
        "mem,memory_gb_hours,,USD,0.004,flat,0,month,,2024-01-01,",
    )
    assert changed_period(new, newer) == (date(2026, 10, 15), None)
    assert changed_period(None, new) == (date.min, None)
