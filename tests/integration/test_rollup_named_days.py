"""usage_rollup re-rolls exactly the days its triggering Asset events name (plan_rollup(days=)),
not every pending day; tiers still pull in the later days of a named day's month."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etl.jobs.rollup import load_rate_card, plan_rollup, rollup
from tests.integration.test_rollups import (
    FLAT_CARD,
    TIERED_CARD,
    card_file,
    ingest_file,
    ms,
    write_events,
)

pytestmark = [pytest.mark.integration]


def test_only_the_named_days_are_planned_while_other_days_are_pending(tmp_path: Path, settings: Any) -> None:
    src = tmp_path / "src"
    ingest_file(write_events(src, "a.ndjson", [
        ("e1", "c1", "cpu_core_hours", 100, ms(1), {}),
        ("e2", "c1", "cpu_core_hours", 10, ms(2), {}),
        ("e3", "c2", "cpu_core_hours", 50, ms(3), {}),
    ]), settings)  # fmt: skip
    load_rate_card(card_file(tmp_path, FLAT_CARD), settings=settings)
    assert plan_rollup(settings=settings) == ["2026-10-01", "2026-10-02", "2026-10-03"]  # all pending
    assert plan_rollup(settings=settings, days=["2026-10-02"]) == ["2026-10-02"]
    assert plan_rollup(settings=settings, days=[]) == []  # a run that changed nothing
    # A day with neither events nor rollups has nothing to rebuild; a form range adds to the days.
    assert plan_rollup(settings=settings, days=["2026-11-30", "2026-10-03"]) == ["2026-10-03"]
    assert plan_rollup(settings=settings, days=["2026-10-03"], from_date="2026-10-01") == [
        "2026-10-01", "2026-10-02", "2026-10-03"
    ]  # fmt: skip


def test_a_named_day_of_a_graduated_meter_brings_the_rest_of_its_month(tmp_path: Path, settings: Any) -> None:
    src = tmp_path / "src"
    ingest_file(write_events(src, "a.ndjson", [
        ("e1", "c1", "network_egress_gb", 80, ms(1), {}),
        ("e2", "c1", "network_egress_gb", 80, ms(5), {}),
        ("e3", "c1", "network_egress_gb", 80, ms(9), {}),
    ]), settings)  # fmt: skip
    load_rate_card(card_file(tmp_path, TIERED_CARD), settings=settings)
    rollup(settings=settings)
    assert plan_rollup(settings=settings, days=["2026-10-05"]) == ["2026-10-05", "2026-10-09"]
