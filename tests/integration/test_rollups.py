"""Rating and rollups against real DuckDB files: late events, idempotence, reconciliation, views."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from etl.costs.reconcile import ReconciliationError, reconcile
from etl.jobs.rollup import load_rate_card, plan_rollup, rollup, run_rollup

pytestmark = [pytest.mark.integration]
D = Decimal
ROOT = Path(__file__).resolve().parents[2]
FLAT_CARD = """rate_id,meter_name,unit,currency,unit_price,pricing,tier_from,tier_period,match,effective_from,effective_to
cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,
power,power_kwh,kwh,USD,0.15,flat,0,month,,2024-01-01,
power-fra1,power_kwh,kwh,USD,0.21,flat,0,month,datacenter=fra1,2024-01-01,
"""
TIERED_CARD = FLAT_CARD + (
    "egress,network_egress_gb,gb,USD,0,graduated,0,month,,2024-01-01,\n"
    "egress,network_egress_gb,gb,USD,0.05,graduated,100,month,,2024-01-01,\n"
)


def ms(day: int, hour: int = 12) -> int:
    return int(datetime(2026, 10, day, hour, tzinfo=UTC).timestamp() * 1000)


def write_events(
    folder: Path, name: str, records: list[tuple[str, str, str, float, int, dict[str, str]]]
) -> Path:
    """(uniqueId, customer, meter, value, epoch ms, dimensions) -> an NDJSON export."""
    lines = [
        json.dumps(
            {"uniqueId": uid, "customerId": cust, "meterApiName": meter, "meterValue": value,
             "meterTimeInMillis": when, "dimensions": dims}
        )
        for uid, cust, meter, value, when, dims in records
    ]  # fmt: skip
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest_file(path: Path, settings: Any) -> None:
    from etl.jobs.ingest import ingest

    report = ingest([str(path)], settings)
    assert report.totals()["failed"] == 0


def query(settings: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from etl.warehouse import Warehouse

    return Warehouse(settings.warehouse_path, settings.lake_path).query(sql, params)[1]


def card_file(tmp_path: Path, text: str, name: str = "card.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def snapshot(settings: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: query(settings, f"SELECT * FROM {table} ORDER BY ALL")  # noqa: S608 - fixed names
        for table in ("rated_events", "cost_daily", "cost_monthly")
    }


def test_late_events_reroll_exactly_the_touched_days(tmp_path: Path, settings: Any) -> None:
    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [
            ("e1", "c1", "cpu_core_hours", 100, ms(1), {"team": "search"}),
            ("e2", "c1", "power_kwh", 10, ms(2), {"team": "search", "datacenter": "fra1"}),
            ("e3", "c2", "cpu_core_hours", 50, ms(3), {"team": "video"}),
        ]),
        settings,
    )  # fmt: skip
    load_rate_card(card_file(tmp_path, FLAT_CARD), settings=settings)
    first = rollup(settings=settings)
    assert first["days"] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    before = {
        r[0]: r[1:]
        for r in query(settings, "SELECT event_date, meter_name, rolled_up_at FROM rollup_state")
    }
    daily_before = query(
        settings, "SELECT * FROM cost_daily WHERE event_date <> '2026-10-02' ORDER BY ALL"
    )

    # A late export: one more event for 2 October, loaded a month later.
    ingest_file(
        write_events(
            src, "late.ndjson", [("e4", "c1", "power_kwh", 5, ms(2, 18), {"team": "search"})]
        ),
        settings,
    )
    assert plan_rollup(settings=settings) == ["2026-10-02"]
    late = run_rollup(["2026-10-02"], settings=settings)
    assert (late["days"], late["events"], late["rated"]) == (["2026-10-02"], 2, 2)

    assert (
        query(settings, "SELECT * FROM cost_daily WHERE event_date <> '2026-10-02' ORDER BY ALL")
        == daily_before
    )
    after = {
        r[0]: r[1:]
        for r in query(settings, "SELECT event_date, meter_name, rolled_up_at FROM rollup_state")
    }
    assert after[date(2026, 10, 1)] == before[date(2026, 10, 1)]
    assert after[date(2026, 10, 3)] == before[date(2026, 10, 3)]
    # 10 kWh in fra1 at 0.21 + 5 kWh elsewhere at 0.15, replaced, not added to the old 2.10.
    assert query(settings, "SELECT sum(cost) FROM cost_daily WHERE event_date = '2026-10-02'") == [
        (D("2.85"),)
    ]
    assert query(settings, "SELECT sum(cost), sum(event_count) FROM cost_monthly") == [
        (D("7.5"), 4)
    ]
    assert plan_rollup(settings=settings) == []


def test_late_event_of_a_graduated_meter_rerates_the_rest_of_its_month(
    tmp_path: Path, settings: Any
) -> None:
    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [
            ("g1", "c1", "network_egress_gb", 80, ms(1), {}),
            ("g2", "c1", "network_egress_gb", 80, ms(3), {}),
            ("g3", "c1", "network_egress_gb", 80, ms(5), {}),
            ("x1", "c1", "cpu_core_hours", 10, ms(4), {}),
        ]),
        settings,
    )  # fmt: skip
    load_rate_card(card_file(tmp_path, TIERED_CARD), settings=settings)
    rollup(settings=settings)
    egress = (
        "SELECT event_date, cost FROM cost_daily WHERE meter_name = 'network_egress_gb' ORDER BY 1"
    )
    assert query(settings, egress) == [
        (date(2026, 10, 1), D("0")), (date(2026, 10, 3), D("3")), (date(2026, 10, 5), D("4")),
    ]  # fmt: skip
    # 50 GB more on 2 October push every later GB 50 further up the ladder.
    ingest_file(
        write_events(src, "late.ndjson", [("g0", "c1", "network_egress_gb", 50, ms(2), {})]),
        settings,
    )
    assert plan_rollup(settings=settings) == [
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
        "2026-10-05",
    ]
    rollup(settings=settings)
    assert query(settings, egress) == [
        (date(2026, 10, 1), D("0")), (date(2026, 10, 2), D("1.5")),
        (date(2026, 10, 3), D("4")), (date(2026, 10, 5), D("4")),
    ]  # fmt: skip
    assert query(
        settings, "SELECT sum(cost) FROM cost_monthly WHERE meter_name = 'network_egress_gb'"
    ) == [
        (D("9.5"),)  # (290 - 100) x 0.05
    ]


def test_rerunning_a_rollup_changes_nothing(tmp_path: Path, settings: Any) -> None:
    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [
            ("e1", "c1", "cpu_core_hours", 100, ms(1), {"team": "search", "project": "api"}),
            ("e2", "c1", "network_egress_gb", 150, ms(2), {"team": "search"}),
            ("e3", "c1", "quantum_hours", 1, ms(2), {}),
        ]),
        settings,
    )  # fmt: skip
    load_rate_card(card_file(tmp_path, TIERED_CARD), settings=settings)
    rollup(settings=settings)
    first = snapshot(settings)
    assert rollup(settings=settings)["days"] == []
    again = rollup(from_date="2026-10-01", to_date="2026-10-31", settings=settings)
    assert again["days"] == ["2026-10-01", "2026-10-02"]
    assert snapshot(settings) == first


def test_new_rate_card_rerates_only_on_request_and_only_its_period(
    tmp_path: Path, settings: Any
) -> None:
    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [
            ("e1", "c1", "cpu_core_hours", 100, ms(1), {}),
            ("e2", "c1", "cpu_core_hours", 100, ms(20), {}),
        ]),
        settings,
    )  # fmt: skip
    load_rate_card(card_file(tmp_path, FLAT_CARD), settings=settings)
    rollup(settings=settings)
    cpu = "SELECT event_date, cost FROM cost_daily ORDER BY 1"
    assert query(settings, cpu) == [(date(2026, 10, 1), D("3.1")), (date(2026, 10, 20), D("3.1"))]

    cheaper = FLAT_CARD.replace(
        "cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,",
        "cpu,cpu_core_hours,core_hour,USD,0.031,flat,0,month,,2024-01-01,2026-10-15\n"
        "cpu-new,cpu_core_hours,core_hour,USD,0.025,flat,0,month,,2026-10-15,",
    )
    loaded = load_rate_card(card_file(tmp_path, cheaper, "card2.csv"), settings=settings)
    assert loaded["previous_version"] is not None
    assert (loaded["affected_from"], loaded["affected_to"]) == ("2026-10-01", "2026-10-21")
    # Loading changed no cost: re-rating is a separate request.
    assert rollup(settings=settings)["days"] == []
    assert query(settings, cpu) == [(date(2026, 10, 1), D("3.1")), (date(2026, 10, 20), D("3.1"))]
    report = rollup(rerate=True, settings=settings)
    assert report["days"] == ["2026-10-01", "2026-10-20"]
    assert query(settings, cpu) == [(date(2026, 10, 1), D("3.1")), (date(2026, 10, 20), D("2.5"))]
    assert query(settings, "SELECT count(*) FROM rate_card_loads WHERE rerated_at IS NOT NULL") == [
        (1,)
    ]


def test_reconciliation_fails_loudly_naming_the_day_and_difference(
    tmp_path: Path, settings: Any
) -> None:
    from etl.warehouse import Warehouse

    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [("e1", "c1", "cpu_core_hours", 100, ms(2), {})]), settings
    )
    load_rate_card(card_file(tmp_path, FLAT_CARD), settings=settings)
    rollup(settings=settings)
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    with wh.writer() as con:
        reconcile(con, [date(2026, 10, 2)])  # consistent: no error
        con.execute("UPDATE cost_daily SET cost = cost + 0.01 WHERE event_date = '2026-10-02'")
        with pytest.raises(ReconciliationError) as err:
            reconcile(con, [date(2026, 10, 2)])
    message = str(err.value)
    assert (
        "day 2026-10-02: cost rollup=3.110000000000000000 events=3.100000000000000000 "
        "difference=0.010000000000000000" in message
    )
    assert (
        "month 2026-10-01: cost rollup=3.100000000000000000 days=3.110000000000000000 "
        "difference=-0.010000000000000000" in message
    )


def test_source_cost_kept_unrated_reported_and_views_answer(tmp_path: Path, settings: Any) -> None:
    src = tmp_path / "src"
    ingest_file(
        write_events(src, "a.ndjson", [
            ("e1", "c1", "cpu_core_hours", 100, ms(1), {"team": "search"}),
            ("e2", "c1", "cpu_core_hours", 200, ms(2), {"team": "search"}),
            ("e3", "c2", "power_kwh", 10, ms(2), {"datacenter": "fra1"}),
            ("q1", "c2", "quantum_hours", 3, ms(2), {}),
        ]),
        settings,
    )  # fmt: skip
    ingest_file(ROOT / "tests" / "fixtures" / "focus" / "focus_1_2.csv", settings)
    load_rate_card(card_file(tmp_path, FLAT_CARD), settings=settings)
    report = rollup(settings=settings)
    assert (report["unrated"], report["unrated_meters"]) == (1, {"quantum_hours": 1})
    assert (
        report["source_cost"]
        == query(settings, "SELECT count(*) FROM meter_events WHERE billed_cost IS NOT NULL")[0][0]
        > 0
    )

    # FOCUS rows keep the cost their source billed; rating adds none.
    sourced = query(
        settings,
        "SELECT sum(e.effective_cost), sum(r.rated_cost) FROM meter_events e JOIN rated_events r USING (event_id) "
        "WHERE r.rate_status = 'source_cost'",
    )
    assert sourced[0][1] is None
    assert query(settings, "SELECT sum(effective_cost) FROM cost_daily")[0][0] == sourced[0][0]

    assert query(
        settings, "SELECT event_date, customer_id, meter_name, events, quantity FROM unrated_usage"
    ) == [(date(2026, 10, 2), "c2", "quantum_hours", 1, D("3"))]
    month = query(
        settings,
        "SELECT customer_id, currency, cost, events, unrated_events FROM cost_by_customer_month "
        "WHERE month = '2026-10-01' ORDER BY customer_id, currency NULLS LAST",
    )
    assert month == [
        ("c1", "USD", D("9.3"), 2, 0),
        ("c2", "USD", D("2.1"), 1, 0),
        ("c2", None, None, 1, 1),
    ]
    top = query(
        settings,
        "SELECT meter_name, cost, cost_rank FROM top_meters_by_cost WHERE month = '2026-10-01' AND currency = 'USD'",
    )
    assert top == [("cpu_core_hours", D("9.3"), 1), ("power_kwh", D("2.1"), 2)]
    dod = query(
        settings,
        "SELECT event_date, cost, previous_day_cost, change FROM cost_day_over_day WHERE customer_id = 'c1' ORDER BY 1",
    )
    assert dod == [
        (date(2026, 10, 1), D("3.1"), None, D("3.1")),
        (date(2026, 10, 2), D("6.2"), D("3.1"), D("3.1")),
    ]
    assert query(settings, "SELECT count(*) FROM cost_by_customer_this_month")[0][0] >= 0
    dims = query(
        settings,
        "SELECT dimensions['team'], dimensions['project'] FROM cost_daily WHERE customer_id = 'c1' LIMIT 1",
    )
    assert dims == [("search", None)]


def test_generated_month_reconciles_to_the_cent(tmp_path: Path, settings: Any) -> None:
    """A generated month with the example rate card: the rollups equal the events beneath them,
    and flat and graduated costs equal an independent computation from the raw events."""
    from etl.jobs.ingest import ingest
    from etl.samples.amberflo import generate_amberflo_exports

    src = tmp_path / "src"
    for key, data in generate_amberflo_exports(
        start=date(2026, 10, 1), days=31, customers=25, seed=11
    ):
        path = src / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    ingest([str(src)], settings)
    load_rate_card(str(ROOT / "examples" / "rate_card.yaml"), settings=settings)
    report = rollup(settings=settings)
    assert (
        len(report["days"]) == 31 and report["unrated"] == 0 and report["rated"] == report["events"]
    )

    totals = query(
        settings,
        """SELECT (SELECT sum(cost) FROM cost_monthly), (SELECT sum(cost) FROM cost_daily),
                  (SELECT sum(rated_cost) FROM rated_events), (SELECT count(*) FROM meter_events),
                  (SELECT sum(event_count) FROM cost_monthly)""",
    )[0]
    assert totals[0] == totals[1] == totals[2] and totals[3] == totals[4]
    assert Decimal(report["cost_by_currency"]["USD"]) == totals[0]
    per_customer = query(
        settings,
        """SELECT m.customer_id, m.cost, e.cost FROM cost_by_customer_month m
           JOIN (SELECT e.customer_id, sum(r.rated_cost) AS cost FROM meter_events e
                 JOIN rated_events r USING (event_id) GROUP BY 1) e USING (customer_id)""",
    )
    assert len(per_customer) == 25
    assert all(round(a, 2) == round(b, 2) and a == b for _, a, b in per_customer)

    # Independent of the rating code: customers without adjustments, from raw events.
    no_adjustment = """customer_id NOT IN ('cust-0003', 'cust-0012')
        AND customer_id NOT IN (SELECT customer_id FROM meter_events WHERE dimensions['team'] = 'ml-research')"""
    cpu = query(
        settings,
        f"""SELECT round(sum(m.cost), 2), round(sum(e.q) * 0.031, 2) FROM
            (SELECT customer_id, sum(cost) AS cost FROM cost_monthly WHERE meter_name = 'cpu_core_hours' AND {no_adjustment} GROUP BY 1) m
            JOIN (SELECT customer_id, sum(quantity) AS q FROM meter_events WHERE meter_name = 'cpu_core_hours' GROUP BY 1) e
            USING (customer_id)""",  # noqa: S608 - fixed SQL
    )[0]
    assert cpu[0] == cpu[1] and cpu[0] > 0
    egress_by_customer = query(
        settings,
        f"""SELECT m.cost, e.q FROM
            (SELECT customer_id, sum(cost) AS cost FROM cost_monthly WHERE meter_name = 'network_egress_gb' AND {no_adjustment} GROUP BY 1) m
            JOIN (SELECT customer_id, sum(quantity) AS q FROM meter_events WHERE meter_name = 'network_egress_gb' GROUP BY 1) e
            USING (customer_id)""",  # noqa: S608 - fixed SQL
    )
    assert egress_by_customer
    for cost, q in egress_by_customer:
        expected = max(D(0), min(q, D(10000)) - 100) * D("0.05") + max(D(0), q - 10000) * D("0.03")
        assert round(cost, 2) == round(expected, 2)


def test_meterhouse_sql_answers_the_views_from_the_published_lake(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from etl.cli import main

    src = tmp_path / "src"
    ingest_file(
        write_events(
            src, "a.ndjson", [("e1", "c1", "cpu_core_hours", 100, ms(1), {"team": "search"})]
        ),
        settings,
    )
    wh = str(settings.warehouse_path)
    # Before any rollup the views exist and answer empty.
    assert (
        main(
            [
                "sql",
                "SELECT count(*) AS n FROM cost_by_customer_month",
                "--warehouse",
                wh,
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["n", "0"]
    assert main(["rate-card", "load", card_file(tmp_path, FLAT_CARD), "--warehouse", wh]) == 0
    assert main(["rollup", "--warehouse", wh]) == 0
    capsys.readouterr()
    for view in (
        "cost_by_customer_month",
        "top_meters_by_cost",
        "cost_day_over_day",
        "unrated_usage",
        "cost_by_customer_this_month",
    ):
        assert main(["sql", f"SELECT * FROM {view}", "--warehouse", wh, "--format", "csv"]) == 0  # noqa: S608
    out = capsys.readouterr().out
    assert "2026-10-01,c1,USD,3.1,3.1,,,1,0" in out
    assert "2026-10-01,cpu_core_hours,USD,Hours,100,3.1,1,1" in out
