"""focus_export: the data center's rated costs of a month as a FOCUS 1.2 dataset.

Monthly, for the month that just ended (the run's data interval), or on demand for any month
(Params form). Writes `focus-<YYYY-MM>.csv` and `.parquet` to the form's `out` or
METERHOUSE_FOCUS_EXPORT_TO. The task's code is in plugins/meterhouse_airflow/focus_tasks.py.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from meterhouse_airflow import focus_tasks
from meterhouse_airflow.config import DAG_DEFAULTS, DAG_TAG


@dag(
    dag_id="focus_export",
    description="Export a month of the data center's rated costs as FOCUS 1.2 (CSV, Parquet)",
    # A data interval: the run on the 1st covers the month before it.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    tags=[DAG_TAG, "rating", "focus"],
    **DAG_DEFAULTS,
    params={
        "month": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}$",
            title="Month",
            description="YYYY-MM to export. Empty: the month of the run's data interval.",
        ),
        "out": Param(
            None,
            type=["null", "string"],
            title="Write to",
            description="a folder or s3://bucket/prefix. Empty: METERHOUSE_FOCUS_EXPORT_TO.",
        ),
    },
)
def focus_export() -> None:
    task(focus_tasks.export_focus)()


focus_export()
