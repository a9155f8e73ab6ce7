"""Rating (the warehouse engine, etl.costs.rating) on tiny hand-computed cases: one test per
pricing shape."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from contracts.rate_card import RatedEvent
from etl.costs.rate_cards import RateCard
from etl.costs.tiers import graduated_cost, volume_price
from tests.unit.costs.cards import HEADER, card_csv
from tests.unit.costs.oracle import EVENT_INPUT_SCHEMA
from tests.unit.costs.warehouse import rate_in_warehouse

D = Decimal


def event(
    event_id: str,
    meter: str,
    quantity: str,
    when: datetime,
    customer: str = "c1",
    billed: str | None = None,
    **dims: str,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "meter_name": meter,
        "quantity": D(quantity),
        "event_time": when,
        "event_date": when.date(),
        "dimensions": [{"key": k, "value": v} for k, v in dims.items()],
        "billed_cost": D(billed) if billed else None,
        "effective_cost": D(billed) if billed else None,
        "currency": "EUR" if billed else None,
    }


def at(day: int, hour: int = 12, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def rate(card: RateCard, *events: dict[str, Any]) -> dict[str, dict[str, Any]]:
    days = sorted({e["event_date"] for e in events})
    frame = pl.DataFrame(list(events), schema=EVENT_INPUT_SCHEMA)
    rated = rate_in_warehouse(card, frame, days, max_events=1000)
    RatedEvent.validate(rated)
    assert rated.height == len(events)
    return {r["event_id"]: r for r in rated.iter_rows(named=True)}


def test_flat_price_is_quantity_times_price() -> None:
    card = card_csv("cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,")
    out = rate(
        card, event("a", "cpu_core_hours", "100", at(1)), event("b", "cpu_core_hours", "0.5", at(2))
    )
    assert out["a"]["rated_cost"] == D("3.1") and out["a"]["unit_price"] == D("0.031")
    assert out["b"]["rated_cost"] == D("0.0155")
    assert {r["rate_status"] for r in out.values()} == {"rated"}
    assert out["a"]["currency"] == "USD" and out["a"]["rate_card_version"] == card.version


def test_most_specific_dimension_filter_wins() -> None:
    card = card_csv(
        "gpu,gpu_hours,hour,USD,1.50,flat,0,month,,2024-01-01,",
        "gpu-h100,gpu_hours,hour,USD,3.20,flat,0,month,gpu_model=H100,2024-01-01,",
        "gpu-h100-fra1,gpu_hours,hour,USD,3.45,flat,0,month,gpu_model=H100;datacenter=fra1,2024-01-01,",
        "gpu-ams2,gpu_hours,hour,USD,2.00,flat,0,month,datacenter=ams2,2024-01-01,",
    )
    out = rate(
        card,
        event("fra-h100", "gpu_hours", "2", at(1), gpu_model="H100", datacenter="fra1"),
        event("iad-h100", "gpu_hours", "2", at(1), gpu_model="H100", datacenter="iad1"),
        event("a10", "gpu_hours", "2", at(1), gpu_model="A10", datacenter="iad1"),
        # Two one-filter rules match: the one listed first wins.
        event("ams-h100", "gpu_hours", "2", at(1), gpu_model="H100", datacenter="ams2"),
    )
    assert {k: (v["rate_id"], v["rated_cost"]) for k, v in out.items()} == {
        "fra-h100": ("gpu-h100-fra1", D("6.90")),
        "iad-h100": ("gpu-h100", D("6.40")),
        "a10": ("gpu", D("3.00")),
        "ams-h100": ("gpu-h100", D("6.40")),
    }


def test_graduated_tiers_accumulate_per_customer_and_month_in_event_time_order() -> None:
    # First 100 GB free, then 0.05 up to 1000 GB, then 0.03.
    card = card_csv(
        "egress,network_egress_gb,gb,USD,0,graduated,0,month,,2024-01-01,",
        "egress,network_egress_gb,gb,USD,0.05,graduated,100,month,,2024-01-01,",
        "egress,network_egress_gb,gb,USD,0.03,graduated,1000,month,,2024-01-01,",
    )
    out = rate(
        card,
        # Listed out of time order on purpose: tiers follow event time.
        event("third", "network_egress_gb", "1000", at(3)),
        event("first", "network_egress_gb", "60", at(1)),
        event("second", "network_egress_gb", "60", at(2)),
        event("other-customer", "network_egress_gb", "150", at(2), customer="c2"),
        event("next-month", "network_egress_gb", "150", at(1, month=11)),
    )
    assert out["first"]["rated_cost"] == D("0")  # 0..60: free
    assert out["second"]["rated_cost"] == D("1.00")  # 60..120: 20 x 0.05
    assert out["third"]["rated_cost"] == D("47.60")  # 120..1120: 880 x 0.05 + 120 x 0.03
    assert out["other-customer"]["rated_cost"] == D("2.50")  # its own ladder: 50 x 0.05
    assert out["next-month"]["rated_cost"] == D("2.50")  # the ladder restarts each month
    month_total = sum(out[k]["rated_cost"] for k in ("first", "second", "third"))
    assert month_total == graduated_cost(card.tiers()["egress"], D(0), D(1120)) == D("48.60")
    assert out["third"]["unit_price"] is None and out["third"]["pricing"] == "graduated"


def test_volume_tiers_price_all_of_a_month_by_its_total() -> None:
    card = card_csv(
        "req,object_requests,request,USD,0.0000005,volume,0,month,,2024-01-01,",
        "req,object_requests,request,USD,0.0000004,volume,1000000,month,,2024-01-01,",
    )
    out = rate(
        card,
        event("big-1", "object_requests", "600000", at(1)),
        event("big-2", "object_requests", "500000", at(20)),
        event("small", "object_requests", "10000", at(5), customer="c2"),
    )
    # c1 used 1.1M requests in October: every request at the 1M+ price.
    assert out["big-1"]["rated_cost"] == D("0.24") and out["big-1"]["unit_price"] == D("0.0000004")
    assert out["big-2"]["rated_cost"] == D("0.20")
    assert out["small"]["rated_cost"] == D("0.005")
    assert volume_price(card.tiers()["req"], D("999999.999")) == D("0.0000005")


def test_day_period_tiers_restart_every_day() -> None:
    card = card_csv(
        "ip,public_ip_hours,hour,USD,0,graduated,0,day,,2024-01-01,",
        "ip,public_ip_hours,hour,USD,0.01,graduated,24,day,,2024-01-01,",
    )
    out = rate(
        card,
        event("d1", "public_ip_hours", "30", at(1)),
        event("d2", "public_ip_hours", "30", at(2)),
    )
    assert out["d1"]["rated_cost"] == out["d2"]["rated_cost"] == D("0.06")


def test_price_change_applies_by_effective_date() -> None:
    card = card_csv(
        "cpu-old,cpu_core_hours,core_hour,USD,0.034,flat,0,month,,2024-01-01,2026-07-01",
        "cpu-new,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2026-07-01,",
    )
    out = rate(
        card,
        event("before", "cpu_core_hours", "100", datetime(2026, 6, 30, 23, 59, tzinfo=UTC)),
        event("after", "cpu_core_hours", "100", datetime(2026, 7, 1, 0, 0, tzinfo=UTC)),
        event("too-early", "cpu_core_hours", "100", datetime(2023, 12, 31, tzinfo=UTC)),
    )
    assert (out["before"]["rate_id"], out["before"]["rated_cost"]) == ("cpu-old", D("3.4"))
    assert (out["after"]["rate_id"], out["after"]["rated_cost"]) == ("cpu-new", D("3.1"))
    assert out["too-early"]["rate_status"] == "unrated" and out["too-early"]["rated_cost"] is None


def test_adjustments_most_specific_wins_and_round_half_even() -> None:
    header = HEADER.rstrip("\n") + ",kind,customer_id,team,adjustment_pct\n"
    card = card_csv(
        "power,power_kwh,kwh,USD,0.15,flat,0,month,,2024-01-01,,price,,,",
        "gpu,gpu_hours,hour,USD,3.00,flat,0,month,,2024-01-01,,price,,,",
        "c3-discount,,,,,,,,,2024-01-01,,adjustment,c3,,-15",
        "c3-gpu-commit,gpu_hours,,,,,,,,2024-01-01,,adjustment,c3,,-22.5",
        "ml-uplift,,,,,,,,,2024-01-01,,adjustment,,ml-research,8",
        header=header,
    )
    out = rate(
        card,
        event("c3-power", "power_kwh", "10", at(1), customer="c3"),
        event("c3-gpu", "gpu_hours", "2", at(1), customer="c3", team="ml-research"),
        event("ml-power", "power_kwh", "10", at(1), customer="c4", team="ml-research"),
        event("plain", "power_kwh", "10", at(1), customer="c4", team="search"),
        event("tiny", "power_kwh", "0.000000000033", at(1), customer="c3"),
    )
    assert (out["c3-power"]["adjustment_id"], out["c3-power"]["rated_cost"]) == (
        "c3-discount",
        D("1.275"),
    )
    # customer + meter (2 scopes) beats customer (1) and team (1).
    assert (out["c3-gpu"]["adjustment_id"], out["c3-gpu"]["rated_cost"]) == (
        "c3-gpu-commit",
        D("4.65"),
    )
    assert out["c3-gpu"]["base_cost"] == D("6.00")
    assert (out["ml-power"]["adjustment_id"], out["ml-power"]["rated_cost"]) == (
        "ml-uplift",
        D("1.62"),
    )
    assert out["plain"]["adjustment_id"] is None and out["plain"]["rated_cost"] == D("1.5")
    # 0.000000000033 x 0.15 = 4.95e-12, x 0.85 = 4.2075e-12 -> 12 places, half even: 4e-12
    assert out["tiny"]["rated_cost"] == D("0.000000000004")


def test_source_cost_is_kept_and_unmatched_events_are_unrated_not_zero() -> None:
    card = card_csv("cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,")
    events = [
        event("focus", "cpu_core_hours", "100", at(1), billed="9.99"),
        event("nothing", "quantum_qubit_hours", "5", at(1)),
        event("nothing-2", "quantum_qubit_hours", "1", at(2)),
    ]
    out = rate(card, *events)
    assert out["focus"]["rate_status"] == "source_cost"
    assert out["focus"]["rated_cost"] is None and out["focus"]["currency"] == "EUR"
    assert out["nothing"]["rate_status"] == "unrated" and out["nothing"]["rated_cost"] is None
    assert out["nothing-2"]["rate_status"] == "unrated" and out["nothing-2"]["currency"] is None
    assert out["focus"]["rate_card_version"] is None and out["nothing"]["rate_id"] is None
