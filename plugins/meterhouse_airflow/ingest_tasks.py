"""The task callables of `usage_ingest`; dags/usage_ingest.py wires them with `@task`.

etl is imported inside each callable: it pulls in polars and DuckDB, which DAG parsing and the
scheduler (which loads this plugin) do not need.
"""

# No `from __future__ import annotations` here: Airflow evaluates a task's return annotation to
# infer `multiple_outputs`, in the globals of the wrapper that `fail_on_terminal_error` adds.
from typing import Any

from meterhouse_airflow.config import LANDING, WAREHOUSE_ASSET
from meterhouse_airflow.errors import fail_on_terminal_error
from meterhouse_airflow.s3 import s3_config


@fail_on_terminal_error
def discover(
    params: dict[str, Any] | None = None,
    dag_run: Any = None,
    data_interval_start: Any = None,
    data_interval_end: Any = None,
) -> list[list[dict[str, Any]]]:
    """Plan the run: the new (or, with `force`, all) objects in scope, in batches.

    A bad date range or setting fails the task at once: retrying cannot fix it.
    """
    from etl.jobs.ingest import plan_run

    params = params or {}
    run_type = getattr(dag_run, "run_type", None)
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


def ingest_batch(
    batch: list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    dag_run: Any = None,
    ti: Any = None,
) -> dict[str, Any]:
    """Load one planned batch (on a dry run: only list it); returns the batch report.

    Every ledger row it writes names this DAG run and this task's try (lineage).
    """
    from etl.jobs.ingest import ingest_batch_dicts

    return ingest_batch_dicts(
        batch,
        s3=s3_config(),
        dry_run=bool((params or {}).get("dry_run")),
        run=run_lineage(dag_run, ti),
    )


def run_lineage(dag_run: Any, ti: Any) -> dict[str, Any]:
    """What the ledger records of the Airflow run loading a batch (etl.jobs.ingest.lineage_of)."""
    return {
        "run_id": dag_run.run_id,
        "dag_id": dag_run.dag_id,
        "try_number": getattr(ti, "try_number", None),
        "run_started_at": getattr(dag_run, "start_date", None),
    }


def report(reports: list[dict[str, Any]], outlet_events: Any = None) -> dict[str, Any]:
    """Totals of the run's batches, with every failed file and its reason (the alert lists them).

    The warehouse Asset event it emits says what changed: `dates` (ISO event days whose stored
    events changed) and `months` (`YYYY-MM`), plus the run's file and event counts.
    """
    from etl.jobs.ingest import summarize_reports

    summary = summarize_reports(list(reports))
    if outlet_events is not None:
        outlet_events[WAREHOUSE_ASSET].extra = changed_extra(summary)
    return summary


def changed_extra(summary: dict[str, Any]) -> dict[str, Any]:
    """The warehouse Asset event's `extra` for a run summary."""
    dates = sorted(summary.get("touched_dates") or [])
    return {
        "dates": dates,
        "months": sorted({d[:7] for d in dates}),
        "files": summary.get("files", 0),
        "failed": summary.get("failed", 0),
        "events_loaded": summary.get("events_loaded", 0),
    }


@fail_on_terminal_error
def check_failures(summary: dict[str, Any]) -> None:
    """Fail the run, naming every failed file and why, once the good files are loaded.

    Retrying cannot fix a bad file: the task fails at once.
    """
    from etl.jobs.ingest import raise_for_failures

    raise_for_failures(summary)
