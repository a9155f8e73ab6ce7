"""Per-file reconciliation of FOCUS money: the file's own totals against what was loaded.

The source totals are summed with Python's Decimal from the text the file holds (every row's
BillingCurrency, BilledCost and EffectiveCost as written, `contracts.focus_conformance`), not
from the typed frames the load path builds, so a row lost or altered anywhere between parsing
and the warehouse shows up as a difference. A file is committed only when, per currency and for
both costs, source total = loaded total + the rejected rows' amounts, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded, localcontext
from typing import cast

import polars as pl

from etl.errors import ContractViolation
from etl.warehouse.connection import Connection
from etl.warehouse.sqlfiles import sql_text

_LOADED_TOTALS = sql_text("focus_loaded_totals")
_INSERT = "INSERT INTO focus_reconciliation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Sums of exact decimals stay exact: a precision far beyond any export, rounding trapped.
_EXACT = Context(prec=400, traps=[Inexact, Rounded, InvalidOperation])


@dataclass
class Amounts:
    """Rows and exact BilledCost / EffectiveCost totals of one currency."""

    rows: int = 0
    billed: Decimal = Decimal(0)
    effective: Decimal = Decimal(0)

    def add(self, rows: int, billed: Decimal, effective: Decimal) -> None:
        """Add rows and amounts, exactly."""
        self.rows += rows
        self.billed = _EXACT.add(self.billed, billed)
        self.effective = _EXACT.add(self.effective, effective)


def _number(text: str | None) -> Decimal:
    """A cost as the file wrote it; text that is no finite number counts 0 (its row is
    rejected by the parser, and neither side of the balance can hold an unknown amount)."""
    if text is None:
        return Decimal(0)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return Decimal(0)
    return value if value.is_finite() else Decimal(0)


def _sum(texts: list[str | None]) -> Decimal:
    """The exact sum of costs as the file wrote them (`_number` of each)."""
    with localcontext(_EXACT):
        try:
            # Every text a finite number (Decimal strips blanks as `_number` does): a finite
            # sum has only finite terms (an infinity or NaN among them stays in the sum).
            total = sum(map(Decimal, texts), Decimal(0))  # type: ignore[arg-type]
            if total.is_finite():
                return total
        except (TypeError, InvalidOperation):
            pass  # a null, or text that is no number: counted 0 by `_number`
        return sum(map(_number, texts), Decimal(0))


def _totals(amounts: pl.DataFrame) -> dict[str | None, Amounts]:
    out: dict[str | None, Amounts] = {}
    # One exact sum per currency and cost over the column's text (C-level Decimal parsing and
    # adding; grouping the distinct texts first cost more than it saved on real exports).
    for (currency,), part in amounts.partition_by("currency", as_dict=True).items():
        billed = _sum(part.get_column("billed_cost").to_list())
        effective = _sum(part.get_column("effective_cost").to_list())
        out[cast("str | None", currency)] = Amounts(part.height, billed, effective)
    return out


@dataclass
class SourceTotals:
    """A FOCUS file's money per currency, from its text: every row, and its rejected rows."""

    source: dict[str | None, Amounts] = field(default_factory=dict)
    rejected: dict[str | None, Amounts] = field(default_factory=dict)

    def add(self, amounts: pl.DataFrame, rejected_rows: pl.Series) -> None:
        """Count one file's (or chunk's) rows; `rejected_rows` are the source rows turned away."""
        for target, frame in (
            (self.source, amounts),
            (self.rejected, amounts.filter(pl.col("source_row").is_in(rejected_rows.implode()))),
        ):
            for currency, sums in _totals(frame).items():
                target.setdefault(currency, Amounts()).add(sums.rows, sums.billed, sums.effective)


def source_totals(amounts: pl.DataFrame, rejects: pl.DataFrame) -> SourceTotals:
    """The totals of one whole file from its amounts text and its rejected rows."""
    totals = SourceTotals()
    totals.add(amounts, rejects.get_column("source_row").drop_nulls())
    return totals


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def reconcile_source(con: Connection, uri: str, totals: SourceTotals, now: datetime) -> None:
    """Inside the file's transaction: compare its loaded line items with its source totals and
    record them; raise ContractViolation (rolling the file back) on any difference."""
    loaded = {
        currency: Amounts(int(rows), Decimal(billed), Decimal(effective))
        for currency, rows, billed, effective in con.execute(_LOADED_TOTALS, [uri]).fetchall()
    }
    problems = []
    for currency in sorted({*totals.source, *loaded}, key=lambda c: c or ""):
        source = totals.source.get(currency, Amounts())
        rejected = totals.rejected.get(currency, Amounts())
        got = loaded.get(currency, Amounts())
        for name, want, have, off in (
            ("BilledCost", source.billed, got.billed, rejected.billed),
            ("EffectiveCost", source.effective, got.effective, rejected.effective),
        ):
            difference = _EXACT.subtract(_EXACT.subtract(want, off), have)
            if difference:
                problems.append(
                    f"{name} in {currency}: the file's rows add up to {_text(want)}, "
                    f"{_text(have)} was loaded and the rejected rows hold {_text(off)}, "
                    f"a difference of {_text(difference)}"
                )
        if source.rows - rejected.rows != got.rows and not problems:
            problems.append(
                f"rows in {currency}: the file has {source.rows}, {got.rows} were loaded and "
                f"{rejected.rows} rejected"
            )
        con.execute(
            _INSERT,
            [uri, currency, source.rows, _text(source.billed), _text(source.effective),
             rejected.rows, _text(rejected.billed), _text(rejected.effective), got.rows,
             got.billed, got.effective, now],
        )  # fmt: skip
    if problems:
        raise ContractViolation(
            f"{uri}: FOCUS reconciliation failed, nothing of this file was loaded: "
            + "; ".join(problems)
            + ". Rows were lost or changed between reading the file and loading it; "
            "report this with the file, and load it again once fixed"
        )
