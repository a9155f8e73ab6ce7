"""`make demo`: a month of sample exports in a local S3, ingested by the usage_ingest DAG.

Starts moto's S3 server on 127.0.0.1, writes sample exports into s3://usage/ingest/, runs the
usage_ingest DAG through Airflow (dag.test() on a fresh SQLite metadata DB), prints what landed
and a small SQL result, then stops the S3 server. No cloud account, no Docker.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run" / "demo"
sys.path.insert(0, str(ROOT / "scripts"))
# Airflow puts the DAG folder on sys.path for its own processes; this process parses it too.
sys.path.insert(0, str(ROOT / "dags"))

from local_s3 import free_port, s3_env, start_s3  # noqa: E402


def _month_before(today: date) -> tuple[date, int]:
    first_this = today.replace(day=1)
    last_prev = first_this - timedelta(days=1)
    first_prev = last_prev.replace(day=1)
    return first_prev, (first_this - first_prev).days


def main() -> int:
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    port = free_port()
    env = {
        **s3_env(port),
        "AIRFLOW_HOME": str(RUN / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "METERHOUSE_WAREHOUSE": str(RUN / "warehouse.duckdb"),
        "METERHOUSE_LAKE": str(RUN / "lake"),
        "METERHOUSE_LANDING": "s3://usage/ingest/",
        "METERHOUSE_SENSOR_TIMEOUT": "120",
        "METERHOUSE_SENSOR_POKE_INTERVAL": "5",
    }
    os.environ.update(env)
    start, days = _month_before(datetime.now(tz=UTC).date())
    print(f"== local S3 on http://127.0.0.1:{port} (moto server)")
    s3 = start_s3(port, RUN / "s3.log")
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="usage")
        print(f"== generating {days} days of sample exports from {start} into s3://usage/ingest/")
        from etl.cli import main as cli

        cli(["generate", "--out", "s3://usage/", "--start", start.isoformat(), "--days", str(days), "--focus"])
        _upload_bad_sample(start)
        print("== running the usage_ingest DAG through Airflow (dag.test)")
        t0 = time.monotonic()
        state = _run_dag(start + timedelta(days=days))
        print(f"   usage_ingest finished: {state} in {time.monotonic() - t0:.0f}s")
        print()
        _report(env["METERHOUSE_WAREHOUSE"])
        if state != "success":
            return 1
        rollup_state = _rate_and_roll_up(start)
        _cost_report(env["METERHOUSE_WAREHOUSE"], start)
        if rollup_state != "success":
            return 1
        return 0 if _export_focus(env["METERHOUSE_WAREHOUSE"], start) else 1
    finally:
        s3.terminate()
        s3.wait(timeout=20)
        print("== local S3 stopped")


def _upload_bad_sample(start: date) -> None:
    """A hand-made upload with two broken records among good ones, to show where rejects go."""
    import boto3

    ms = int(datetime(start.year, start.month, start.day, 12, tzinfo=UTC).timestamp() * 1000)
    good = [
        f'{{"customerId":"cust-0001","meterApiName":"gpu_hours","meterValue":{i}.5,"meterTimeInMillis":{ms + i},'
        f'"uniqueId":"manual-{i}","dimensions":{{"team":"search","gpu_model":"h100"}}}}'
        for i in range(8)
    ]
    body = "\n".join(
        [
            *good,
            f'{{"customerId":"cust-0001","meterApiName":"gpu_hours","meterValue":"abc","meterTimeInMillis":{ms},"uniqueId":"demo-bad-1"}}',
            f'{{"customerId":"cust-0002","meterApiName":"power_kwh","meterValue":3,"meterTimeInMillis":{ms // 1000},"uniqueId":"demo-bad-2"}}',
        ]
    )
    key = f"ingest/usage/dt={start.isoformat()}/manual-upload.ndjson"
    boto3.client("s3").put_object(Bucket="usage", Key=key, Body=body.encode())


def _run_dag(logical_day: date) -> str:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool
    from airflow.utils import db

    logging.getLogger("airflow").setLevel(logging.WARNING)
    db.resetdb()
    Pool.create_or_update_pool("meterhouse_warehouse", slots=1, description="one warehouse writer", include_deferred=False)
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("usage_ingest")
    run = dag.test(logical_date=pendulum.datetime(logical_day.year, logical_day.month, logical_day.day, tz="UTC"))
    return str(run.state)


def _rate_and_roll_up(start: date) -> str:
    """Put the example rate card in S3 and run usage_rollup through Airflow with it."""
    import boto3
    from airflow.dag_processing.dagbag import DagBag

    key = "rate-cards/rate_card.yaml"
    boto3.client("s3").put_object(
        Bucket="usage", Key=key, Body=(ROOT / "examples" / "rate_card.yaml").read_bytes()
    )
    print(f"\n== running the usage_rollup DAG with the rate card s3://usage/{key} (dag.test)")
    t0 = time.monotonic()
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("usage_rollup")
    run = dag.test(run_conf={"rate_card": f"s3://usage/{key}"})
    print(f"   usage_rollup finished: {run.state} in {time.monotonic() - t0:.0f}s")
    return str(run.state)


def _cost_report(warehouse: str, month: date) -> None:
    from etl.cli import main as cli

    # The sample month is the month before today (UTC), as generated above.
    print(f"\n== cost per customer, {month:%B %Y} (top 15 of view cost_by_customer_month)")
    cli(
        [
            "sql",
            """SELECT customer_id, currency, round(cost, 2) AS cost, round(rated_cost, 2) AS rated,
                      round(effective_cost, 2) AS from_source, events, unrated_events
               FROM cost_by_customer_month WHERE month = date_trunc('month', current_date - INTERVAL 1 MONTH)::DATE
               ORDER BY cost DESC NULLS LAST LIMIT 15""",
            "--warehouse",
            warehouse,
        ]
    )
    print("\n== total for the month, and the top meters (view top_meters_by_cost)")
    cli(
        [
            "sql",
            """SELECT currency, count(DISTINCT customer_id) AS customers, round(sum(cost), 2) AS cost
                FROM cost_by_customer_month WHERE month = date_trunc('month', current_date - INTERVAL 1 MONTH)::DATE GROUP BY ALL""",
            "--warehouse",
            warehouse,
        ]
    )
    cli(
        [
            "sql",
            """SELECT currency, cost_rank, meter_name, unit, round(quantity, 1) AS quantity, round(cost, 2) AS cost
                FROM top_meters_by_cost WHERE month = date_trunc('month', current_date - INTERVAL 1 MONTH)::DATE AND cost_rank <= 5
                ORDER BY currency, cost_rank""",
            "--warehouse",
            warehouse,
        ]
    )
    print("\n== usage without a price (view unrated_usage)")
    cli(["sql", "SELECT meter_name, sum(events) AS events FROM unrated_usage GROUP BY 1", "--warehouse", warehouse])
    print("views: cost_by_customer_month, cost_by_customer_this_month, top_meters_by_cost, cost_day_over_day, unrated_usage (docs/rating.md)")


def _export_focus(warehouse: str, month: date) -> bool:
    """Export the month's rated costs as FOCUS 1.2 into the bucket and locally, and judge the
    files with the FinOps Foundation's focus-validator (its own pinned environment)."""
    from etl.cli import main as cli

    out = RUN / "focus-export"
    print(f"\n== FOCUS 1.2 export of {month:%Y-%m} (meterhouse export focus), to s3://usage/exports/focus/")
    if cli(["export", "focus", "--month", f"{month:%Y-%m}", "--out", "s3://usage/exports/focus/", "--warehouse", warehouse]):
        return False
    if cli(["export", "focus", "--month", f"{month:%Y-%m}", "--out", str(out), "--warehouse", warehouse]):
        return False
    print("\n== focus-validator 2.2.1 on the export (scripts/focus_validator; first run installs it)")
    sys.path.insert(0, str(ROOT / "scripts" / "focus_validator"))
    from run import main as validate  # noqa: PLC0415

    return validate([str(out / f"focus-{month:%Y-%m}.csv"), str(out / f"focus-{month:%Y-%m}.parquet")]) == 0


def _report(warehouse: str) -> None:
    from etl.cli import main as cli

    print("== what landed (ingest ledger)")
    cli(["status", "--warehouse", warehouse])
    print("\n== rejected rows")
    cli(["sql", "SELECT source_uri, source_row, rule, reason FROM rejected_rows ORDER BY 1, 2", "--warehouse", warehouse])
    print("\n== usage per meter per day, Amberflo meter records (first 3 days)")
    cli(
        [
            "sql",
            """SELECT event_date, meter_name, any_value(unit) AS unit, round(sum(quantity), 3) AS quantity,
                      count(*) AS events, count(DISTINCT customer_id) AS customers
               FROM meter_events
               WHERE source_format LIKE 'amberflo%'
                 AND event_date < (SELECT min(event_date) + 3 FROM meter_events)
               GROUP BY ALL ORDER BY event_date, meter_name""",
            "--warehouse",
            warehouse,
        ]
    )
    print("\n== FOCUS cost exports: billed and effective cost per provider, FOCUS version and file type")
    cli(
        [
            "sql",
            """SELECT coalesce(f."ServiceProviderName", f."ProviderName") AS provider, f."x_focus_version" AS focus,
                      m.source_format, strftime(f."BillingPeriodStart", '%Y-%m') AS period,
                      count(*) AS rows, sum(f."BilledCost") AS billed, sum(f."EffectiveCost") AS effective,
                      any_value(f."BillingCurrency") AS currency
               FROM focus_line_items f JOIN meter_events m USING (event_id)
               GROUP BY ALL ORDER BY provider, focus""",
            "--warehouse",
            warehouse,
        ]
    )
    print(f"\nwarehouse: {warehouse}\nParquet lake: {Path(warehouse).parent / 'lake'}")
    print(f'query it: .venv/bin/meterhouse sql "SELECT ..." --warehouse {warehouse}')


if __name__ == "__main__":
    sys.exit(main())
