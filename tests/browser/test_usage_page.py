"""The Usage & cost page in headless Chromium on the real stack (tests/live_stack.py).

Loads a few sample days (plus a file with rejected rows and one that fails) with usage_ingest,
rates September with usage_rollup and the example rate card, then logs in, opens the page from
Airflow's nav and checks that every figure it shows equals the same SQL run here with DuckDB
directly over the published Parquet lake (views.sql). Also: the page's routes answer 401
without a valid Airflow token. Screenshots: test-artifacts/browser/usage-*.png.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.browser.test_ui import ARTIFACTS, CHROMIUM, ROOT, _require_browser_deps
from tests.live_stack import LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

FIRST, LAST = "2026-09-02", "2026-09-04"  # sample days (any the e2e tests loaded stay loaded)
BAD_KEY = "ingest/dt=2026-09-03/usage-page-rejects.ndjson"
BROKEN_KEY = "ingest/dt=2026-09-03/usage-page-broken.bin"


def _money(value: Any) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def _lake_sql(stack: LiveStack, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """The question asked of the published lake directly (not through etl): views.sql."""
    import duckdb

    lake = stack.warehouse.parent / "lake"
    con = duckdb.connect()
    con.execute("SET file_search_path = ?", [str(lake)])
    con.execute((lake / "views.sql").read_text())
    return con.execute(sql, params or []).fetchall()


def _wait_dag_run(stack: LiveStack, dag_id: str, run_id: str, timeout_s: float = 420) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        if run["state"] in ("success", "failed"):
            return str(run["state"])
        time.sleep(3)
    raise AssertionError(f"{dag_id} run {run_id} not finished after {timeout_s}s")


def _load_usage(stack: LiveStack) -> None:
    s3 = stack.s3()
    now_ms = int(datetime(2026, 9, 3, 12, tzinfo=UTC).timestamp() * 1000)
    good = {"customerId": "ui-page", "meterApiName": "cpu_core_hours", "meterValue": 2,
            "meterTimeInMillis": now_ms, "uniqueId": "usage-page-good"}  # fmt: skip
    lines = [good, {**good, "uniqueId": "usage-page-bad", "meterValue": -1},
             {**good, "uniqueId": "usage-page-good-2"}]  # fmt: skip
    s3.put_object(Bucket="usage", Key=BAD_KEY, Body="\n".join(map(json.dumps, lines)).encode())
    s3.put_object(Bucket="usage", Key=BROKEN_KEY, Body=b"\x00\x01 not a usage export")
    run_id = stack.trigger({"start_date": FIRST, "end_date": LAST})
    # The broken file fails the run (check_failures) after every other file loaded.
    assert _wait_dag_run(stack, "usage_ingest", run_id) in ("success", "failed")
    stack.wait_idle()
    card = str(ROOT / "examples" / "rate_card.yaml")
    rollup = stack.api.post(
        "/api/v2/dags/usage_rollup/dagRuns",
        {"logical_date": None,
         "conf": {"rate_card": card, "from_date": "2026-09-01", "to_date": "2026-09-30"}},
    )  # fmt: skip
    assert _wait_dag_run(stack, "usage_rollup", rollup["dag_run_id"]) == "success"
    stack.wait_idle()


def test_the_page_needs_an_airflow_login(live_stack: LiveStack) -> None:
    from stack import PASSWORD, USERNAME

    page = f"{live_stack.url}/meterhouse/usage"
    assert requests.get(page, timeout=60).status_code == 401
    forged = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
    for headers, cookies in [
        ({"Authorization": f"Bearer {forged}"}, {}),
        ({}, {"_token": forged}),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, {}),
    ]:
        answer = requests.get(page, headers=headers, cookies=cookies, timeout=60)
        assert answer.status_code == 401, answer.text
    token = requests.post(
        f"{live_stack.url}/auth/token",
        json={"username": USERNAME, "password": PASSWORD},
        timeout=60,
    ).json()["access_token"]
    answer = requests.get(page, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert answer.status_code == 200
    assert "<h1>Usage &amp; cost</h1>" in answer.text


def _rows(view: dict[str, Any], section: str) -> list[dict[str, str]]:
    return [{k: c["value"] for k, c in row.items()} for row in view["tables"].get(section, [])]


def _check_cost_view(stack: LiveStack, view: dict[str, Any], *, customer: str | None = None,
                     currency: str | None = None) -> None:  # fmt: skip
    """Every cost figure of one view of the page against SQL over the lake."""
    start, end = date.fromisoformat(view["start"]), date.fromisoformat(view["end"])
    month = end.replace(day=1)
    before = (month - timedelta(days=1)).replace(day=1)
    # cost IS NOT NULL, then the customer and currency filters (NULL: all), in each query
    f = [customer, customer, currency, currency]

    per_day = _lake_sql(stack, "SELECT currency, event_date, meter_name, sum(cost) FROM cost_daily "
                        "WHERE event_date BETWEEN ? AND ? AND cost IS NOT NULL AND (? IS NULL OR customer_id = ?) AND (? IS NULL OR currency = ?) GROUP BY ALL", [start, end, *f])  # fmt: skip
    shown = {(r["currency"], r["day"], r["meter"]): Decimal(r["cost"]) for r in view["rects"]}
    assert shown == {(c, str(d), m): v for c, d, m, v in per_day}
    assert shown, "no cost bars on the page"
    for rect in view["rects"]:
        assert f"· {_money(rect['cost'])} {rect['currency']}" in rect["title"]

    def top(first: date, last: date) -> list[tuple[str, str, Decimal]]:
        rows = _lake_sql(stack, "SELECT currency, customer_id, sum(cost) AS c FROM cost_daily "
                         "WHERE event_date BETWEEN ? AND ? AND cost IS NOT NULL AND (? IS NULL OR customer_id = ?) AND (? IS NULL OR currency = ?) GROUP BY currency, customer_id "
                         "QUALIFY row_number() OVER (PARTITION BY currency ORDER BY c DESC, customer_id) <= 10 "
                         "ORDER BY currency, c DESC, customer_id", [first, last, *f])  # fmt: skip
        return [(cur, cust, cost) for cur, cust, cost in rows]

    for section, first, last in [("top-this-month", month, end), ("top-last-month", before, month - timedelta(days=1))]:  # fmt: skip
        table = view["tables"].get(section, [])
        assert [(r["currency"]["value"], r["customer"]["value"], Decimal(r["cost"]["value"])) for r in table] == top(first, last)  # fmt: skip
        assert [r["cost"]["text"] for r in table] == [_money(c) for *_, c in top(first, last)]

    same_day = before.replace(day=min(end.day, (month - timedelta(days=1)).day))
    mtd = _lake_sql(stack, "SELECT currency, sum(cost) FILTER (WHERE event_date BETWEEN ? AND ?), "
                    "sum(cost) FILTER (WHERE event_date BETWEEN ? AND ?) FROM cost_daily "
                    "WHERE cost IS NOT NULL AND (? IS NULL OR customer_id = ?) AND (? IS NULL OR currency = ?) AND event_date BETWEEN ? AND ? GROUP BY ALL HAVING count(*) > 0 ORDER BY 1",
                    [month, end, before, same_day, *f, before, end])  # fmt: skip
    expected = {cur: (now, prev) for cur, now, prev in mtd if now is not None or prev is not None}
    got = {
        card["currency"]: (
            Decimal(card["this_period"]["value"]) if card["this_period"]["value"] else None,
            Decimal(card["previous_period"]["value"]) if card["previous_period"]["value"] else None,
        )
        for card in view["mtd"]
    }
    assert got == expected
    for card in view["mtd"]:
        if card["this_period"]["value"]:
            assert card["this_period"]["text"].startswith(_money(card["this_period"]["value"]))

    unrated = _lake_sql(stack, "SELECT meter_name, customer_id, sum(events), sum(quantity) FROM unrated_usage "
                        "WHERE event_date BETWEEN ? AND ? AND (? IS NULL OR customer_id = ?) GROUP BY ALL "
                        "ORDER BY 3 DESC, 1, 2 LIMIT 50", [start, end, customer, customer])  # fmt: skip
    assert [
        (r["meter"], r["customer"], int(r["events"]), Decimal(r["quantity"]))
        for r in _rows(view, "unrated")
    ] == [  # fmt: skip
        (m, c, int(e), q) for m, c, e, q in unrated
    ]


def _check_ingest_view(stack: LiveStack, view: dict[str, Any]) -> None:
    start, end = view["start"], view["end"]
    days = _lake_sql(
        stack,
        "SELECT CAST(loaded_at AS DATE), count(*) FILTER (WHERE status = 'loaded'), "
        "count(*) FILTER (WHERE status IN ('failed', 'error')), count(*) FILTER (WHERE status = 'empty'), "
        "sum(rows_in), sum(events_loaded), sum(rejected) FROM ingest_ledger "
        "WHERE CAST(loaded_at AS DATE) BETWEEN ? AND ? GROUP BY 1 ORDER BY 1 DESC",
        [start, end],
    )
    shown = [
        (r["day"], int(r["loaded"]), int(r["failed"]), int(r["empty"]), int(r["rows_in"]),
         int(r["events_loaded"]), int(r["rejected"]))
        for r in _rows(view, "ingest-days")
    ]  # fmt: skip
    assert shown == [(str(d), *map(int, rest)) for d, *rest in days]
    assert shown and sum(r[2] for r in shown) >= 1 and sum(r[6] for r in shown) >= 1
    rejects = _lake_sql(
        stack,
        "SELECT CAST(rejected_at AS DATE) AS day, rule, count(*) FROM rejected_rows "
        "WHERE CAST(rejected_at AS DATE) BETWEEN ? AND ? GROUP BY ALL",
        [start, end],
    )
    page_rejects = _rows(view, "rejects")
    assert {(r["day"], r["rule"], int(r["rows_rejected"])) for r in page_rejects} == {
        (str(d), rule, n) for d, rule, n in rejects
    }
    of_run = (
        "SELECT count(*) FROM rejected_rows WHERE rule = ? AND reason = ? AND source_row = ? "
        "AND source_uri IN (SELECT source_uri FROM ingest_ledger WHERE run_id = ?)"
    )
    of_file = (
        "SELECT count(*) FROM rejected_rows WHERE rule = ? AND reason = ? AND source_row = ? "
        "AND source_uri = ?"
    )
    for r in page_rejects:  # the example is a real rejected row of that rule, from the run shown
        assert _lake_sql(
            stack, of_run if r["run"] else of_file,
            [r["rule"], r["example_reason"], int(r["example_row"]), r["run"] or _uri_of(view, r)],
        ) == [(1,)]  # fmt: skip
    # the ledger records the run that loaded each file: the page names it
    assert page_rejects and all(r["run"] for r in page_rejects)
    failed = _lake_sql(
        stack, "SELECT source_uri, error FROM ingest_ledger WHERE status IN ('failed', 'error') "
        "AND CAST(loaded_at AS DATE) BETWEEN ? AND ? ORDER BY CAST(loaded_at AS DATE) DESC, source_uri",
        [start, end],
    )  # fmt: skip
    assert [(r["source_uri"], r["error"]) for r in _rows(view, "failed-files")] == failed
    assert f"s3://usage/{BROKEN_KEY}" in {uri for uri, _ in failed}


def _uri_of(view: dict[str, Any], row: dict[str, str]) -> str:
    """The example's source file as the page prints it (for a ledger that records no run)."""
    for cells in view["tables"]["rejects"]:
        if cells["rule"]["value"] == row["rule"] and cells["day"]["value"] == row["day"]:
            return str(cells["run"]["text"])
    raise AssertionError(row)


def test_usage_page_from_the_airflow_menu_shows_the_lakes_figures(live_stack: LiveStack) -> None:
    from stack import PASSWORD, USERNAME

    node = _require_browser_deps()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _load_usage(live_stack)
    ((customer,),) = _lake_sql(
        live_stack, "SELECT customer_id FROM cost_daily WHERE currency = 'USD' AND cost IS NOT NULL "
        "GROUP BY 1 ORDER BY sum(cost) DESC, 1 LIMIT 1",
    )  # fmt: skip
    result = subprocess.run(
        [node, str(Path(__file__).with_name("usage_page.js"))],
        env={
            **os.environ,
            "NODE_PATH": str(ROOT / "node_modules"),
            "AIRFLOW_URL": live_stack.url,
            "AIRFLOW_USER": USERNAME,
            "AIRFLOW_PASSWORD": PASSWORD,
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": CHROMIUM,
            "CUSTOMER": customer,
        },
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    (ARTIFACTS / "usage-page-figures.json").write_text(json.dumps(seen, indent=1))

    assert seen["anonymous_status"] == 401
    assert seen["direct_status"] == 200
    assert "/plugin/usage-cost" in seen["ui_url"]
    today = datetime.now(UTC).date()
    assert (seen["default"]["start"], seen["default"]["end"]) == (
        str(today - timedelta(days=59)), str(today),
    )  # fmt: skip
    # Today's loads: files, failures and rejected rows per day, as the ledger has them.
    _check_ingest_view(live_stack, seen["default"])
    # The newest cost (September 2026 samples, rated with the example card) and a filtered view.
    ((latest,),) = _lake_sql(
        live_stack, "SELECT max(event_date) FROM cost_daily WHERE cost IS NOT NULL"
    )
    assert seen["latest"]["end"] == str(latest)
    assert "/plugin/usage-cost/meterhouse/usage?end=" in seen["ui_url_latest"]
    _check_cost_view(live_stack, seen["latest"])
    assert seen["filtered"]["start"] == f"{str(latest)[:8]}01"
    _check_cost_view(live_stack, seen["filtered"], customer=customer, currency="USD")
    assert {r["customer"]["value"] for r in seen["filtered"]["tables"]["top-this-month"]} == {
        customer
    }
    for name in ("usage-nav", "usage-page-default", "usage-page-latest", "usage-page-filtered", "usage-page-full", "usage-page-401"):  # fmt: skip
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5_000, name
