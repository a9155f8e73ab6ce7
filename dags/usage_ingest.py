"""usage_ingest: sense new usage exports in S3 and load them into the warehouse, in batches.

Each run covers one data interval (nightly by default, METERHOUSE_INGEST_CRON). What it loads
is decided in `etl.intervals.ingest_window`: exports whose date folder (`dt=YYYY-MM-DD/`,
Amberflo `MM-DD-YYYY/`, `billing_period=YYYY-MM/`) overlaps the run's window, plus undated keys,
that the ingest ledger has not loaded in their current version.

- scheduled (nightly) run: its interval plus METERHOUSE_LATE_DAYS (31) days before it (late or
  corrected exports);
- backfill run: exactly its interval, so a backfill loads those intervals' exports once;
- manual run: the form's date range if given (with `force`: reprocess it), else everything new.

`wait_for_exports` (meterhouse_airflow.sensors.NewExportsSensor) first waits, deferred, until
that scope holds an object the ledger has not loaded (or whose etag or size changed; with `force`
any object in scope); with nothing new by METERHOUSE_SENSOR_TIMEOUT the run ends skipped.

Writes go through a one-slot pool; the warehouse Asset event of a run names the event dates
(and months) its loads changed (`extra`), which `usage_rollup` rebuilds.
The tasks' code is in plugins/meterhouse_airflow/ingest_tasks.py; failure alerts come from the
meterhouse plugin's listener (every DAG tagged `meterhouse`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from meterhouse_airflow import ingest_tasks
from meterhouse_airflow.config import (
    AWS_CONN_ID,
    DAG_DEFAULTS,
    DAG_TAG,
    INGEST_CRON,
    LANDING,
    SENSOR_POKE_S,
    SENSOR_TIMEOUT_S,
    WAREHOUSE_ASSET,
    WAREHOUSE_POOL,
    day_param,
)
from meterhouse_airflow.sensors import NewExportsSensor


@dag(
    dag_id="usage_ingest",
    description="Load new usage exports from S3 into the meterhouse warehouse",
    schedule=CronDataIntervalTimetable(INGEST_CRON, timezone="UTC"),
    tags=[DAG_TAG, "ingest"],
    **DAG_DEFAULTS,
    params={
        "start_date": day_param(
            "From day",
            "First export day to ingest (inclusive). Empty: the run's own scope "
            "(a manual run then loads everything new). Only this field: that one day.",
        ),
        "end_date": day_param(
            "To day",
            "Last export day to ingest (inclusive). Empty: same as From day.",
        ),
        "sources": Param(
            [],
            type=["null", "array"],
            items={"type": "string", "pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/"},
            title="Prefixes",
            description="s3://bucket/prefix/ to ingest instead of the landing prefix, one per "
            "line (empty: the landing prefix)",
        ),
        "force": Param(
            False,
            type=["null", "boolean"],
            title="Reprocess",
            description="load objects again even if unchanged: their rows are replaced, "
            "never duplicated",
        ),
        "dry_run": Param(
            False,
            type=["null", "boolean"],
            title="Dry run",
            description="list what would be loaded, load nothing",
        ),
    },
)
def usage_ingest() -> None:
    # Waits (deferred) until the run's scope holds an object the ledger has not loaded.
    wait_for_exports = NewExportsSensor(
        task_id="wait_for_exports",
        landing=LANDING,
        aws_conn_id=AWS_CONN_ID,
        poke_interval=SENSOR_POKE_S,
        timeout=SENSOR_TIMEOUT_S,
        soft_fail=True,
        # Under load the scheduler can mark a deferring task failed by mistake (Airflow 3.3's
        # "finished with state success, but the task instance's state attribute is queued");
        # one retry rides that out. A timeout is a skip, never retried.
        retries=1,
        retry_delay=pendulum.duration(seconds=10),
    )
    discover = task(ingest_tasks.discover)
    ingest_batch = task(pool=WAREHOUSE_POOL, max_active_tis_per_dag=1)(ingest_tasks.ingest_batch)
    report = task(outlets=[WAREHOUSE_ASSET])(ingest_tasks.report)
    check_failures = task(retries=0)(ingest_tasks.check_failures)

    batches = discover()
    wait_for_exports >> batches
    check_failures(report(ingest_batch.expand(batch=batches)))


usage_ingest()
