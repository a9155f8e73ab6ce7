"""The Usage & cost page's rendering: number formats, the SVG bars, run links, empty states."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from meterhouse_airflow.ui.charts import nice_ceiling, stacked_bars
from meterhouse_airflow.ui.formatting import money, percent, quantity
from meterhouse_airflow.ui.page import month_label, render_page, run_href

D = Decimal


def test_numbers_are_written_for_people() -> None:
    assert (money(D("12345.675")), money(D("0.004")), money(None)) == ("12,345.68", "0.00", "–")
    assert (quantity(D("3.500")), quantity(D("1234.56789")), quantity(7)) == (
        "3.5",
        "1,234.568",
        "7",
    )
    assert (percent(D("12.345")), percent(D("-0.04")), percent(None)) == ("+12.3 %", "0.0 %", "new")


@pytest.mark.parametrize(("value", "top"), [(0, 1), (0.7, 0.8), (260, 300), (1001, 1500), (18, 20)])
def test_axis_tops_are_round(value: float, top: float) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_bars_stack_each_days_meters_in_proportion() -> None:
    rows = [
        {"day": date(2026, 9, 1), "meter": "cpu", "cost": D("10.5")},
        {"day": date(2026, 9, 1), "meter": "gpu", "cost": D("4.5")},
        {"day": date(2026, 9, 3), "meter": "gpu", "cost": D("30")},
    ]
    svg = str(stacked_bars(rows, date(2026, 9, 1), date(2026, 9, 3), "USD"))
    rects = re.findall(
        r'<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#\w+)" data-day="([\d-]+)" data-meter="(\w+)" data-cost="([\d.]+)"',
        svg,
    )
    assert [(day, meter, cost) for *_, day, meter, cost in rects] == [
        ("2026-09-01", "gpu", "4.5"), ("2026-09-01", "cpu", "10.5"), ("2026-09-03", "gpu", "30"),
    ]  # fmt: skip
    heights = {(r[4], r[5]): float(r[2]) for r in rects}
    assert heights[("2026-09-03", "gpu")] / heights[("2026-09-01", "cpu")] == pytest.approx(
        30 / 10.5
    )
    assert {r[5]: r[3] for r in rects} == {"gpu": "#4e79a7", "cpu": "#f28e2b"}  # costliest first
    assert "<title>2026-09-01 · cpu · 10.50 USD</title>" in svg


def test_month_labels() -> None:
    assert month_label(date(2026, 9, 1), date(2026, 9, 30)) == "September 2026"
    assert month_label(date(2026, 10, 1), date(2026, 10, 20)) == "October 2026, 1–20"
    assert month_label(date(2026, 12, 1), date(2026, 12, 1)) == "December 2026, 1"


def _report(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "state": "ok",
        "filters": {"start": date(2026, 9, 1), "end": date(2026, 9, 30), "customer": None, "meter": None, "currency": None},
        "lake": "/lake", "warehouse": "/wh",
        "extent": {"latest_cost_day": date(2026, 9, 30), "latest_event_day": date(2026, 9, 30), "ledger_files": 1, "cost_rows": 1},
        "options": {"customer": ["c<1>"], "meter": [], "currency": []},
        "windows": {"this_start": date(2026, 9, 1), "this_end": date(2026, 9, 30), "previous_start": date(2026, 8, 1), "previous_same_day": date(2026, 8, 30), "previous_end": date(2026, 8, 31)},
        "cost_by_day": [], "top_customers": {"this_month": [], "last_month": []}, "month_to_date": [],
        "ingest_days": [], "rejects": [], "failed_files": [], "unrated": [], "unrated_events": 0,
        "ledger_has_runs": False,
    }  # fmt: skip
    return {**base, **over}


def test_a_run_link_when_the_ledger_names_the_run_else_the_file() -> None:
    assert run_href("usage_ingest", "manual__2026-09-01T00:00:00+00:00") == (
        "../dags/usage_ingest/runs/manual__2026-09-01T00%3A00%3A00%2B00%3A00"
    )
    assert run_href(None, None) is None
    failed = {"day": date(2026, 9, 2), "source_uri": "s3://usage/ingest/x.bin", "status": "failed", "error": "bad <bytes>"}  # fmt: skip
    with_run = render_page(_report(ledger_has_runs=True, failed_files=[{**failed, "run_dag_id": "usage_ingest", "run_id": "scheduled__1"}]))  # fmt: skip
    assert (
        '<a href="../dags/usage_ingest/runs/scheduled__1" data-airflow-link>scheduled__1</a>'
        in with_run
    )
    assert "bad &lt;bytes&gt;" in with_run
    without = render_page(_report(rejects=[{"day": date(2026, 9, 2), "rule": "r", "rows_rejected": 2, "example_reason": "why", "example_uri": "s3://usage/ingest/y.ndjson", "example_row": 3, "run_dag_id": None, "run_id": None}]))  # fmt: skip
    assert "data-airflow-link>" not in without
    assert (
        '<span class="uri" title="the ledger does not record the run that loaded this file">s3://usage/ingest/y.ndjson</span>'
        in without
    )


def test_no_cost_in_range_links_to_the_newest_cost() -> None:
    page = render_page(_report(filters={**_report()["filters"], "start": date(2026, 10, 3), "end": date(2026, 12, 1), "customer": "c&1"}))  # fmt: skip
    assert 'href="usage?end=2026-09-30&amp;customer=c%261" data-figure="latest-hint"' in page
    assert '<option value="c&lt;1&gt;">c&lt;1&gt;</option>' in page


@pytest.mark.parametrize("state", ["missing", "empty", "behind"])
def test_empty_states_are_friendly(state: str) -> None:
    page = render_page({"state": state, "message": "nothing <here>", "filters": _report()["filters"], "lake": "/l", "warehouse": "/w"})  # fmt: skip
    assert f'data-state="{state}"' in page
    assert "nothing &lt;here&gt;" in page
    assert "data-section" not in page
