"""The Usage & cost page's HTML: the report of `etl.jobs.usage_report` through
`templates/usage.html` (Jinja2, autoescaped), charts from `charts`."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from meterhouse_airflow.ui import formatting
from meterhouse_airflow.ui.charts import meter_colors, stacked_bars

TITLE = "Usage & cost"


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("meterhouse_airflow.ui", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=formatting.money,
        quantity=formatting.quantity,
        count=formatting.count,
        percent=formatting.percent,
    )
    return env


def run_href(dag_id: str | None, run_id: str | None) -> str | None:
    """The Airflow UI page of a DAG run, relative to the page (/meterhouse/usage), so it holds
    under any base path; None when the ledger does not name the run."""
    if not dag_id or not run_id:
        return None
    return f"../dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def month_label(first: date, last: date) -> str:
    """'October 2026' for a whole month, 'October 2026, 1–20' for part of one."""
    whole = first.day == 1 and (last + timedelta(days=1)).day == 1
    name = f"{first:%B %Y}"
    if whole:
        return name
    return f"{name}, {first.day}" if first == last else f"{name}, {first.day}–{last.day}"


def _charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    filters = report["filters"]
    by_currency: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for row in report["cost_by_day"]:
        by_currency[row["currency"]].append(row)
    charts = []
    for currency in sorted(by_currency, key=lambda c: (c is None, c or "")):
        rows = by_currency[currency]
        colors = meter_colors(rows)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            totals[row["meter"]] += row["cost"]
        charts.append(
            {
                "currency": currency,
                "svg": stacked_bars(rows, filters["start"], filters["end"], currency),
                "legend": [{"meter": m, "color": c, "total": totals[m]} for m, c in colors.items()],
                "total": sum(totals.values(), Decimal(0)),
            }
        )
    return charts


def _latest_hint(report: dict[str, Any]) -> str | None:
    """A link to the range that has cost, when the chosen one has none but the lake does."""
    latest = report.get("extent", {}).get("latest_cost_day")
    filters = report["filters"]
    if report["cost_by_day"] or latest is None or filters["start"] <= latest <= filters["end"]:
        return None
    keep = {k: filters[k] for k in ("customer", "meter", "currency") if filters[k]}
    return "usage?" + urlencode({"end": latest.isoformat(), **keep})


def render_page(report: dict[str, Any]) -> str:
    """The whole page for a report of any state."""
    context: dict[str, Any] = {"title": TITLE, "report": report, "filters": report["filters"]}
    if report["state"] == "ok":
        windows = report["windows"]
        for key in ("rejects", "failed_files"):
            for row in report[key]:
                row["run_href"] = run_href(row["run_dag_id"], row["run_id"])
        context.update(
            charts=_charts(report),
            latest_hint=_latest_hint(report),
            this_month=month_label(windows["this_start"], windows["this_end"]),
            last_month=month_label(windows["previous_start"], windows["previous_end"]),
            previous_window=month_label(windows["previous_start"], windows["previous_same_day"]),
        )
    return _environment().get_template("usage.html").render(context)


def render_problem(status: int, message: str) -> str:
    """A small page for a refused request (a bad filter, no login) or a lake that failed."""
    return (
        _environment()
        .get_template("problem.html")
        .render(title=TITLE, status=status, message=message)
    )


def safe(markup: str) -> Markup:
    """Markup the template must not escape (our own SVG)."""
    return Markup(markup)
