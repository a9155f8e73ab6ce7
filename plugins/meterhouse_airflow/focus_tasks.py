"""The task callable of `focus_export`; dags/focus_export.py wires it with `@task`.

etl is imported inside the callable: it pulls in polars and DuckDB, which DAG parsing and the
scheduler (which loads this plugin) do not need.
"""
# No `from __future__ import annotations` here: Airflow evaluates a task's return annotation to
# infer `multiple_outputs`, in the globals of the wrapper that `fail_on_terminal_error` adds.

import logging
from typing import Any

from meterhouse_airflow.errors import fail_on_terminal_error
from meterhouse_airflow.s3 import s3_config

log = logging.getLogger("meterhouse.focus_export")


@fail_on_terminal_error
def export_focus(
    params: dict[str, Any] | None = None, data_interval_start: Any = None
) -> dict[str, Any]:
    """Write the month's rated costs as FOCUS 1.2 (CSV and Parquet): the form's month, else the
    month of the run's data interval; to the form's `out`, else METERHOUSE_FOCUS_EXPORT_TO."""
    from datetime import date

    from etl.errors import TerminalError
    from etl.jobs.export_focus import export_focus as export
    from etl.settings import Settings

    params = params or {}
    settings = Settings.from_env()
    out = params.get("out") or settings.focus_export_to
    if not out:
        raise TerminalError(
            "no FOCUS export target: give `out` in the form or set METERHOUSE_FOCUS_EXPORT_TO "
            "(a folder or s3://bucket/prefix)"
        )
    raw = params.get("month")
    try:
        month = date.fromisoformat(f"{raw}-01") if raw else data_interval_start.date()
    except ValueError as exc:
        raise TerminalError(f"month {raw!r} is not YYYY-MM") from exc
    s3 = s3_config() if str(out).startswith("s3://") else None
    result = export(settings, month.replace(day=1), str(out), "both", s3=s3)
    log.info("FOCUS export of %s: %d rows, files %s", result.month, result.rows, result.uris)
    return {
        "month": result.month,
        "uris": result.uris,
        "rows": result.rows,
        "billed_cost": {c: str(v) for c, v in result.billed_cost.items()},
    }
