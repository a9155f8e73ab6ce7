"""What loaded the warehouse, for people and for tools: `meterhouse runs` and
`meterhouse status --format json`.

Both read the DuckDB file read-only (they wait out a writer, never block one for long) and
return plain JSON-ready values: text, whole numbers, ISO-8601 timestamps (UTC) and dates.

`list_runs` — one entry per run (and task try) that loaded files, newest first, from the
lineage columns of the ingest ledger:

    run_id        Airflow DAG run id, or "cli" for the meterhouse command; null: files loaded
                  before the ledger recorded runs
    dag_id        the Airflow DAG (null for the command line)
    try_number    the Airflow task try that loaded the files (null for the command line)
    os_user       the OS user of the loading process
    started_at    when the run started (the DAG run's start; the command's start)
    finished_at   when its last file was recorded
    duration_s    finished_at - started_at, in seconds
    files, failed, rows_in, events_loaded, rejected, duplicates   summed over its files

A file loaded again later counts under the later run (the ledger keeps each file's last load).

`warehouse_status` — the ledger's state: see its docstring for the fields.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Any

from etl.lake import QueryFailed
from etl.settings import Settings
from etl.warehouse import Warehouse

__all__ = ["DEFAULT_RUNS", "list_runs", "warehouse_status"]

DEFAULT_RUNS = 20
"""How many runs `meterhouse runs` lists unless told."""
FAILED_FILES = 20
"""How many failed files the status names."""

_SQL = files("etl.jobs").joinpath("sql")


@functools.cache
def _sql(name: str) -> str:
    return _SQL.joinpath(f"{name}.sql").read_text().strip()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _records(
    warehouse: Warehouse, name: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    names, rows = warehouse.query(_sql(name), params)
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


def _warehouse(settings: Settings | None) -> Warehouse:
    settings = settings or Settings.from_env()
    # A reader: a mistyped --warehouse fails (WarehouseMissing), it never creates one.
    return Warehouse.of(settings, create=False)


def list_runs(
    settings: Settings | None = None, *, limit: int = DEFAULT_RUNS
) -> list[dict[str, Any]]:
    """The newest `limit` runs that loaded files (fields in the module docstring)."""
    warehouse = _warehouse(settings)
    recorded = warehouse.query(_sql("ledger_has_runs"))[1][0][0]
    return _records(warehouse, "runs" if recorded else "runs_unrecorded", [limit])


def warehouse_status(settings: Settings | None = None) -> dict[str, Any]:
    """The warehouse's state as plain values:

    - `warehouse`: the DuckDB file (or `ducklake <data path>`);
    - `files_by_status`: per ledger status (`loaded`, `empty`, `failed`, `error`, `retracted`):
      `files`, `rows_in`, `events_loaded`, `duplicates`, `rejected`, `last_loaded_at`;
    - `failed_files`: up to 20 files whose last attempt failed: `source_uri`, `status`,
      `error`, `loaded_at`;
    - `events`: `events` stored, `first_date`, `last_date` (event days);
    - `duplicate_events`: `copies` kept aside, `conflicting` (content differs from the kept
      copy); null for a warehouse too old to rank them;
    - `last_run`: the newest entry of `list_runs`, or null.
    """
    settings = settings or Settings.from_env()
    warehouse = _warehouse(settings)
    try:
        (duplicates,) = _records(warehouse, "status_duplicates")
    except QueryFailed:  # written before duplicates were ranked: no `conflict` column
        duplicates = None
    runs = list_runs(settings, limit=1)
    (events,) = _records(warehouse, "status_events")
    return {
        "warehouse": warehouse.describe(),
        "files_by_status": _records(warehouse, "status_by_status"),
        "failed_files": _records(warehouse, "status_failed_files", [FAILED_FILES]),
        "events": events,
        "duplicate_events": duplicates,
        "last_run": runs[0] if runs else None,
    }
