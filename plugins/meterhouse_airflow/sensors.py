"""`NewExportsSensor`: `usage_ingest` waits for exports its run has not loaded yet.

A run's scope is the one `discover` plans from (the run's prefixes and date window: the data
interval plus the late days for a nightly run, exactly the interval for a backfill, the form's
range for a manual run, see etl.sources.windows). The sensor succeeds once that scope holds an
object the ingest ledger has not loaded in its current version (new, or its etag or size
changed; with the form's `force`, any object in scope): it checks once at once, then, with
nothing new, keeps waiting deferred to the triggerer (no worker slot held) until `timeout`;
with `soft_fail` the run then ends as skipped instead of failed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from meterhouse_airflow.errors import fail_on_terminal_error
from meterhouse_airflow.s3 import s3_config
from meterhouse_airflow.triggers import EVENT_URIS, NewExportsTrigger

#: How much longer than the trigger's own deadline the scheduler waits before it times the
#: deferral out itself (a backstop: the trigger normally ends first, with a `timeout` event).
DEFERRAL_MARGIN_S = 120


class NewExportsSensor(BaseSensorOperator):
    """Wait for objects of the run's scope that the ledger has not seen (or that changed).

    :param landing: the prefix watched when the run's form gives no `sources`
    :param aws_conn_id: Airflow AWS connection for S3
    """

    def __init__(self, *, landing: str, aws_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.landing = landing
        self.aws_conn_id = aws_conn_id

    @fail_on_terminal_error
    def execute(self, context: Any) -> Any:
        """Work out the run's scope and defer to the trigger, which watches it.

        A scope that cannot be (a reversed date range) fails the task at once.
        """
        from etl.errors import RetryableError
        from etl.jobs.sense import run_scope, unloaded_now

        params = context.get("params") or {}
        dag_run = context.get("dag_run")
        run_type = getattr(dag_run, "run_type", None)
        scope = run_scope(
            list(params.get("sources") or [self.landing]),
            run_type=str(getattr(run_type, "value", run_type) or "manual"),
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
            start_date=params.get("start_date"),
            end_date=params.get("end_date"),
            force=bool(params.get("force")),
        )
        # One check here first: a run whose exports are there (a backfill, a late run) does
        # not defer at all.
        try:
            new = unloaded_now(scope, s3_config(self.aws_conn_id))
        except RetryableError as exc:  # S3 or the warehouse busy: the trigger asks again
            self.log.info("first check inconclusive, deferring: %s", exc)
            new = []
        if new:
            self.log.info("%d new objects in %s, e.g. %s", len(new), scope.describe(), new[:5])
            return new[:EVENT_URIS]
        deadline = datetime.now(tz=UTC) + timedelta(seconds=self.timeout)
        self.log.info(
            "waiting until %s for objects the ledger has not loaded in %s",
            deadline.isoformat(),
            scope.describe(),
        )
        self.defer(
            trigger=NewExportsTrigger(
                prefixes=list(scope.prefixes),
                window_start=scope.window_start,
                window_end=scope.window_end,
                force=scope.force,
                aws_conn_id=self.aws_conn_id,
                poke_interval=self.poke_interval,
                deadline=deadline.isoformat(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFERRAL_MARGIN_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[str]:
        """The trigger's answer: the new URIs (XCom), or a timeout / error (soft_fail skips)."""
        event = event or {}
        status = event.get("status")
        if status == "found":
            uris = list(event.get("uris") or [])
            self.log.info("%d new objects, e.g. %s", event.get("count", len(uris)), uris[:5])
            return uris
        if status == "timeout":
            raise AirflowSensorTimeout(f"sensor timed out: {event.get('message')}")
        raise AirflowException(f"cannot watch for exports: {event.get('message', event)}")
