"""Server-side SVG charts for the Usage & cost page: no JavaScript, no CDN, nothing to install.

Geometry is float (pixels); every figure a chart shows or carries (`data-cost`, `<title>`)
is the exact Decimal from the lake.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from markupsafe import Markup

from meterhouse_airflow.ui.formatting import money

# Tableau 10: distinguishable, and readable on white.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
WIDTH, HEIGHT = 1000, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 44


def meter_colors(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """A color per meter, the costliest first (stable for equal totals: by name)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["meter"]] += row["cost"]
    ranked = sorted(totals, key=lambda m: (-totals[m], m))
    return {meter: PALETTE[i % len(PALETTE)] for i, meter in enumerate(ranked)}


def nice_ceiling(value: float) -> float:
    """The smallest 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten that is >= `value`
    (an axis top whose quarters are round numbers)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def stacked_bars(
    rows: Sequence[dict[str, Any]], start: date, end: date, currency: str | None
) -> Markup:
    """Cost per day stacked by meter, one bar per day of `start`..`end` (empty days stay
    empty). `rows`: {day, meter, cost} of one currency. Each segment carries its exact cost
    in `data-cost` and a tooltip."""
    days = (end - start).days + 1
    colors = meter_colors(rows)
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["day"]].append(row)
    totals = {day: sum((r["cost"] for r in parts), Decimal(0)) for day, parts in by_day.items()}
    top = nice_ceiling(float(max(totals.values(), default=Decimal(0))))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / days
    bar = max(1.0, slot * 0.78)
    unit = f" {currency}" if currency else ""
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="cost per day by meter{escape(unit)}" data-currency="{escape(currency or "")}">'
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_axis_label(value))}</text>"
        )
    every = max(1, math.ceil(days / 12))
    for i in range(days):
        day = start + timedelta(days=i)
        x = LEFT + slot * i + (slot - bar) / 2
        if i % every == 0:
            out.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{day:%m-%d}</text>'
            )
        base = float(TOP + plot_h)
        for part in sorted(by_day.get(day, []), key=lambda r: list(colors).index(r["meter"])):
            height = plot_h * float(part["cost"]) / top
            base -= height
            tip = f"{day} · {part['meter']} · {money(part['cost'])}{unit}"
            out.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.2f}" '
                f'fill="{colors[part["meter"]]}" data-day="{day}" '
                f'data-meter="{escape(part["meter"])}" data-cost="{part["cost"]}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    out.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}"/></svg>'
    )
    return Markup("".join(out))


def _axis_label(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"
