"""usage_ingest: sense new usage exports in S3 and load them into the warehouse, in batches.

Each run covers one data interval (nightly by default, METERHOUSE_INGEST_CRON). What it loads
is decided in `etl.sources.windows.ingest_window`: exports whose date folder (`dt=YYYY-MM-DD/`,
Amberflo `MM-DD-YYYY/`, `billing_period=YYYY-MM/`) overlaps the run's window, plus undated keys,
that the ingest ledger has not loaded in their current version.

- scheduled (nightly) run: its interval plus METERHOUSE_LATE_DAYS (31) days before it (late or
  corrected exports);
- backfill run: exactly its interval, so a backfill loads those intervals' exports once;
- manual run: the form's date range if given (with `force`: reprocess it), else everything new.

Writes go through a one-slot pool; the warehouse Asset is updated when anything loaded.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from meterhouse_airflow import (
    AWS_CONN_ID,
    INGEST_CRON,
    LANDING,
    SENSOR_POKE_S,
    SENSOR_TIMEOUT_S,
    WAREHOUSE_POOL,
    split_landing,
    warehouse_asset,
)
from meterhouse_airflow.alerts import on_dag_failure

WAREHOUSE = warehouse_asset()
_BUCKET, _PREFIX = split_landing(LANDING)


@dag(
    dag_id="usage_ingest",
    description="Load new usage exports from S3 into the meterhouse warehouse",
    schedule=CronDataIntervalTimetable(INGEST_CRON, timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["meterhouse", "ingest"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    on_failure_callback=on_dag_failure,
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="From day",
            description="First export day to ingest (inclusive). Empty: the run's own scope "
            "(a manual run then loads everything new). Only this field: that one day.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="To day",
            description="Last export day to ingest (inclusive). Empty: same as From day.",
        ),
        "sources": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/"},
            title="Prefixes",
            description="s3://bucket/prefix/ to ingest instead of the landing prefix, one per "
            "line (empty: the landing prefix)",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Reprocess",
            description="load objects again even if unchanged: their rows are replaced, "
            "never duplicated",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="list what would be loaded, load nothing",
        ),
    },
)
def usage_ingest() -> None:
    wait_for_exports = S3KeySensor(
        task_id="wait_for_exports",
        bucket_name=_BUCKET,
        bucket_key=f"{_PREFIX}*",
        wildcard_match=True,
        aws_conn_id=AWS_CONN_ID,
        deferrable=True,
        poke_interval=SENSOR_POKE_S,
        timeout=SENSOR_TIMEOUT_S,
        soft_fail=True,
        retries=0,
    )

    @task
    def discover(
        params: dict | None = None,
        dag_run: Any = None,
        data_interval_start: Any = None,
        data_interval_end: Any = None,
    ) -> list[list[dict]]:
        from airflow.sdk.exceptions import AirflowFailException
        from meterhouse_airflow import s3_config

        from etl.errors import TerminalError
        from etl.jobs.ingest import plan_run

        params = params or {}
        run_type = getattr(dag_run, "run_type", None)
        try:
            return plan_run(
                list(params.get("sources") or [LANDING]),
                run_type=str(getattr(run_type, "value", run_type) or "manual"),
                interval_start=data_interval_start,
                interval_end=data_interval_end,
                start_date=params.get("start_date"),
                end_date=params.get("end_date"),
                force=bool(params.get("force")),
                dry_run=bool(params.get("dry_run")),
                s3=s3_config(),
            )
        except TerminalError as exc:
            # A bad date range or setting: retrying cannot fix it.
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, max_active_tis_per_dag=1)
    def ingest_batch(batch: list[dict], params: dict | None = None) -> dict:
        from meterhouse_airflow import s3_config

        from etl.jobs.ingest import ingest_batch_dicts

        return ingest_batch_dicts(
            batch, s3=s3_config(), dry_run=bool((params or {}).get("dry_run"))
        )

    @task(outlets=[WAREHOUSE])
    def report(reports: list[dict]) -> dict:
        from etl.jobs.ingest import summarize_reports

        return summarize_reports(list(reports))

    @task(retries=0)
    def check_failures(summary: dict) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        from etl.errors import IngestFailed
        from etl.jobs.ingest import raise_for_failures

        try:
            raise_for_failures(summary)
        except IngestFailed as exc:
            # Retrying cannot fix a bad file: fail now, with every file and reason in the message.
            raise AirflowFailException(str(exc)) from exc

    batches = discover()
    wait_for_exports >> batches
    check_failures(report(ingest_batch.expand(batch=batches)))


usage_ingest()
