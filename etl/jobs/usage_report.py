"""The figures of the "Usage & cost" page (plugins/meterhouse_airflow/ui), read from the
published Parquet lake only: a page never blocks a load, and a load never breaks a page.

`usage_report(filters)` returns plain values (dicts, lists, dates, Decimals): cost per day and
meter, the top customers of the month and of the month before, month to date against the same
days of the previous month, ingest health per day (files, rejected rows by rule with an example,
failed files), and usage no price matched. Every figure comes from one static SQL file in
`sql/report_*.sql` with `$n` parameters; nothing is spliced into SQL but the choice between two
fixed ledger expressions (whether the ledger records the run that loaded a file).

An empty or missing warehouse is a state of the report (`"missing"`, `"empty"`), not an error.
"""

from __future__ import annotations

import calendar
import functools
import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib.resources import files
from typing import Any

from etl.errors import TerminalError
from etl.lake import LakeBehind, Select
from etl.settings import Settings
from etl.warehouse import Warehouse, WarehouseMissing

log = logging.getLogger("meterhouse.report")

DEFAULT_DAYS = 60
"""The page's default range: the 60 days up to today."""
MAX_DAYS = 731
"""The longest range a page draws (two years of daily bars)."""
TOP_CUSTOMERS = 10
UNRATED_ROWS = 50
FAILED_FILES = 200

_SQL = files("etl.jobs").joinpath("sql")
# Whether the ledger names the run that loaded a file depends on its published columns; each
# choice is fixed SQL (a column or NULL), never a value from data.
_RUN_ID = {True: "l.run_id", False: "CAST(NULL AS VARCHAR)"}
_RUN_DAG_ID = {
    "dag_id": "l.dag_id",
    "default": "CASE WHEN l.run_id IS NOT NULL THEN 'usage_ingest' END",
    "none": "CAST(NULL AS VARCHAR)",
}


class ReportError(TerminalError):
    """The page's filters cannot be used (a bad date, a reversed or too long range)."""


@functools.cache
def report_sql(name: str, *, run_id: bool = False, dag_id: str = "none") -> str:
    """The SQL of `sql/<name>.sql`, its ledger run expressions filled in."""
    text = _SQL.joinpath(f"{name}.sql").read_text().strip()
    return text.replace("{{run_id}}", _RUN_ID[run_id]).replace(
        "{{run_dag_id}}", _RUN_DAG_ID[dag_id]
    )


@dataclass(frozen=True)
class ReportFilters:
    """What the page shows: a range of days (inclusive) and, optionally, one customer, one
    meter, one currency. The range's last day anchors "this month"."""

    start: date
    end: date
    customer: str | None = None
    meter: str | None = None
    currency: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        today: date,
        start: str | None = None,
        end: str | None = None,
        customer: str | None = None,
        meter: str | None = None,
        currency: str | None = None,
    ) -> ReportFilters:
        """Filters from a form's text (blank means all / the default range of DEFAULT_DAYS
        days up to `end`, which defaults to `today`)."""
        last = _day(end, "end") or today
        first = _day(start, "start") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise ReportError(f"start {first} is after end {last}; give start <= end")
        if (last - first).days + 1 > MAX_DAYS:
            raise ReportError(
                f"{first}..{last} is {(last - first).days + 1} days; the page shows at most "
                f"{MAX_DAYS} days, narrow the range"
            )
        return cls(first, last, _text(customer), _text(meter), _text(currency))

    def cost_params(self, first: date, last: date) -> list[Any]:
        """$1..$5 of the cost queries: the days, then customer, meter, currency (NULL: all)."""
        return [first, last, self.customer, self.meter, self.currency]

    def to_dict(self) -> dict[str, Any]:
        """The filters as plain values."""
        return asdict(self)


def _day(raw: str | None, name: str) -> date | None:
    if raw is None or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ReportError(f"{name} {raw!r} is not a date (YYYY-MM-DD)") from exc


def _text(raw: str | None) -> str | None:
    return raw.strip() if raw is not None and raw.strip() else None


@dataclass(frozen=True)
class MonthWindows:
    """The month to date up to a day, the same days of the month before, that whole month."""

    this_start: date
    this_end: date
    previous_start: date
    previous_same_day: date
    previous_end: date


def month_windows(day: date) -> MonthWindows:
    """The windows month to date ends on `day`: the previous month's window stops at the same
    day of the month (its last day when it is shorter: 31 March compares with 28/29 February)."""
    this_start = day.replace(day=1)
    previous_end = this_start - timedelta(days=1)
    previous_start = previous_end.replace(day=1)
    same = min(day.day, calendar.monthrange(previous_start.year, previous_start.month)[1])
    return MonthWindows(
        this_start, day, previous_start, previous_start.replace(day=same), previous_end
    )


def _records(select: Select, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    names, rows = select(sql, params)
    return [dict(zip(names, row, strict=True)) for row in rows]


def change_pct(current: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """The change from `previous` to `current` in percent, None without a base (no cost before)."""
    if previous is None or previous == 0:
        return None
    return ((current or Decimal(0)) - previous) * 100 / previous


def usage_report(
    filters: ReportFilters, settings: Settings | None = None, *, top: int = TOP_CUSTOMERS
) -> dict[str, Any]:
    """Every figure of the Usage & cost page for `filters`, from the published lake.

    `state` is "ok", "empty" (nothing loaded yet), "missing" (no warehouse at the configured
    path) or "behind" (a run stopped before publishing; the lake would answer with old data),
    with a `message` for the last three.
    """
    settings = settings or Settings.from_env()
    warehouse = Warehouse.of(settings, create=False)
    base: dict[str, Any] = {
        "filters": filters.to_dict(),
        "warehouse": warehouse.describe(),
        # A DuckLake is its own read path: no Parquet lake folder.
        "lake": str(settings.lake_path) if settings.ducklake is None else warehouse.describe(),
    }
    try:
        with warehouse.published_reader() as select:
            return {**base, **_figures(select, filters, top)}
    except WarehouseMissing:
        return {
            **base,
            "state": "missing",
            "message": f"no warehouse at {settings.warehouse_path} yet: run usage_ingest to load "
            "usage (METERHOUSE_WAREHOUSE names the file)"
            if settings.ducklake is None
            else "no DuckLake in the catalog of METERHOUSE_DUCKLAKE_CATALOG yet: run "
            "usage_ingest to load usage",
        }
    except LakeBehind as exc:
        return {**base, "state": "behind", "message": str(exc)}


def _figures(select: Select, filters: ReportFilters, top: int) -> dict[str, Any]:
    (extent,) = _records(select, report_sql("report_extent"), [])
    if not extent["ledger_files"] and not extent["cost_rows"]:
        return {
            "state": "empty",
            "message": "nothing is published yet: the page fills in once usage_ingest has "
            "loaded files (and usage_rollup has rated them)",
            "extent": extent,
        }
    options: dict[str, list[str]] = {"customer": [], "meter": [], "currency": []}
    for row in _records(select, report_sql("report_options"), []):
        options[row["kind"]].append(row["value"])
    windows = month_windows(filters.end)
    cost_params = filters.cost_params
    top_this = _records(
        select,
        report_sql("report_top_customers"),
        [*cost_params(windows.this_start, windows.this_end), top],
    )
    top_last = _records(
        select,
        report_sql("report_top_customers"),
        [*cost_params(windows.previous_start, windows.previous_end), top],
    )
    mtd = _records(
        select,
        report_sql("report_month_to_date"),
        [
            *cost_params(windows.this_start, windows.this_end),
            windows.previous_start,
            windows.previous_same_day,
        ],
    )
    for row in mtd:
        row["change_pct"] = change_pct(row["this_period"], row["previous_period"])
    columns = set(select(report_sql("report_ledger_columns"), [])[0])
    has_run = "run_id" in columns
    dag_id = ("dag_id" if "dag_id" in columns else "default") if has_run else "none"
    days = [filters.start, filters.end]
    unrated = _records(
        select,
        report_sql("report_unrated"),
        [filters.start, filters.end, filters.customer, filters.meter, UNRATED_ROWS],
    )
    report: dict[str, Any] = {
        "state": "ok",
        "extent": extent,
        "options": options,
        "windows": asdict(windows),
        "cost_by_day": _records(
            select, report_sql("report_cost_by_day"), cost_params(filters.start, filters.end)
        ),
        "top_customers": {"this_month": top_this, "last_month": top_last},
        "month_to_date": mtd,
        "ingest_days": _records(select, report_sql("report_ingest_days"), days),
        "rejects": _records(
            select, report_sql("report_rejects", run_id=has_run, dag_id=dag_id), days
        ),
        "failed_files": _records(
            select,
            report_sql("report_failed_files", run_id=has_run, dag_id=dag_id),
            [*days, FAILED_FILES],
        ),
        "unrated": unrated,
        "unrated_events": unrated[0]["total_events"] if unrated else 0,
        # Rows loaded with a FOCUS rule broken in a column that neither places nor prices them
        # (every FOCUS file loaded, not only this range: a finding is about a file's text).
        "focus_findings": _records(select, report_sql("focus_findings_by_rule"), []),
        "ledger_has_runs": has_run,
    }
    log.info(
        "step=report start=%s end=%s cost_rows=%d ingest_days=%d",
        filters.start,
        filters.end,
        len(report["cost_by_day"]),
        len(report["ingest_days"]),
    )
    return report
