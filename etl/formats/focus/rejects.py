"""Failures of a FOCUS parse: rejected rows (a placing or pricing column failed) and
conformance findings (any other column failed; the row is kept)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import pandera.polars as pa
import polars as pl

from contracts.focus import FOCUS_MODELS, PERIOD_CHECKS, PLACING_COLUMNS
from contracts.focus_conformance import FINDING_COLUMNS, FINDING_SCHEMA
from contracts.meter_event import REJECT_COLUMNS, REJECT_SCHEMA
from etl.errors import ContractViolation

_PANDERA_RULES: Final = {
    "not_nullable": "not_null",
    "isin": "allowed_values",
    "greater_than_or_equal_to": "non_negative",
    "str_matches": "format",
}
_EMPTY_FRAME_COLUMNS: Final = ("__idx", "rule", "column_name", "reason")
_FINDING_FRAME: Final = {
    "__idx": pl.Int64, "rule": pl.String, "column_name": pl.String, "value": pl.String
}  # fmt: skip


@dataclass
class Work:
    """Mutable state of one parse: failures, findings and notes accumulate here."""

    version: str
    idx: pl.Series
    failures: list[pl.DataFrame] = field(default_factory=list)
    findings: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(
        self,
        mask: pl.Series,
        rule: str,
        column: str,
        reasons: pl.Series | str | Callable[[], pl.Series],
        values: pl.Series | None = None,
    ) -> None:
        """Record `rule` for the rows in `mask`: a reject when `column` places or prices the row
        (PLACING_COLUMNS), else a conformance finding holding the row's `values` text. A
        callable `reasons` is only built if a reject needs it."""
        if not mask.any():
            return
        if column not in PLACING_COLUMNS[self.version]:
            self.find(mask, rule, column, values)
            return
        if callable(reasons):
            reasons = reasons()
        reason = reasons.filter(mask) if isinstance(reasons, pl.Series) else reasons
        frame = pl.DataFrame({"__idx": self.idx.filter(mask)}).with_columns(
            rule=pl.lit(rule), column_name=pl.lit(column), reason=reason
        )
        self.failures.append(frame.select(_EMPTY_FRAME_COLUMNS))

    def find(self, mask: pl.Series, rule: str, column: str, values: pl.Series | None) -> None:
        """Record a conformance finding `rule` on `column` for the rows in `mask` (kept rows)."""
        if not mask.any():
            return
        value = (
            values.filter(mask).cast(pl.String)
            if values is not None
            else pl.repeat(None, int(mask.sum()), dtype=pl.String, eager=True)
        )
        self.findings.append(
            pl.DataFrame(
                {"__idx": self.idx.filter(mask), "rule": rule, "column_name": column,
                 "value": value.str.slice(0, 200)},
                schema=_FINDING_FRAME,
            )
        )  # fmt: skip


def reasons(series: pl.Series, before: str, after: str, limit: int = 80) -> pl.Series:
    """Per-row reason text quoting the offending value (shortened: reasons are not raw records)."""
    quoted = pl.lit("'") + pl.lit(series).str.slice(0, limit) + pl.lit("'")
    return pl.select(pl.lit(before) + quoted + pl.lit(after)).to_series()


def contract_failures(typed: pl.DataFrame, work: Work) -> None:
    """Validate rows that survived casting against the version's pandera model."""
    if typed.height == 0:
        return
    model = FOCUS_MODELS[work.version]
    try:
        model.validate(typed, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    structural = cases.filter(pl.col("index").is_null())
    if structural.height:
        # The parser builds the frame, so a schema-level failure is a parser bug, not bad data.
        details = "; ".join(
            f"{r['column']}: {r['check']}" for r in structural.iter_rows(named=True)
        )
        raise ContractViolation(f"FOCUS {work.version} typed frame breaks its contract: {details}")
    idx = typed["__idx"]
    rows: list[dict[str, object]] = []
    found: list[dict[str, object]] = []
    for case in cases.iter_rows(named=True):
        check = str(case["check"])
        position = int(case["index"])
        if check in PERIOD_CHECKS:
            column, end = PERIOD_CHECKS[check]
            rule = f"focus.{column}.before_end"
            reason = _period_reason(typed, position, column, end)
        else:
            column = str(case["column"])
            suffix = _PANDERA_RULES.get(check.split("(")[0], check.split("(")[0])
            rule = f"focus.{column}.{suffix}"
            if column not in PLACING_COLUMNS[work.version]:
                value = case["failure_case"]
                found.append({"__idx": idx[position], "rule": rule, "column_name": column,
                              "value": None if value is None else str(value)})  # fmt: skip
                continue
            reason = _check_reason(suffix, column, case["failure_case"], work.version, check)
        rows.append({"__idx": idx[position], "rule": rule, "column_name": column, "reason": reason})
    if found:
        work.findings.append(pl.DataFrame(found, schema=_FINDING_FRAME))
    work.failures.append(
        pl.DataFrame(rows, schema={"__idx": pl.Int64, "rule": pl.String, "column_name": pl.String,
                                   "reason": pl.String})
    )  # fmt: skip


def _period_reason(typed: pl.DataFrame, position: int, start: str, end: str) -> str:
    s, e = typed[start][position], typed[end][position]
    return f"{start} {s:%Y-%m-%dT%H:%M:%S}Z is not before {end} {e:%Y-%m-%dT%H:%M:%S}Z (end is exclusive)"


def _check_reason(suffix: str, column: str, value: object, version: str, check: str) -> str:
    if suffix == "not_null":
        return f"{column} is null; FOCUS {version} requires a value"
    if suffix == "non_negative":
        return f"{column} is {value}; FOCUS {version} requires a non-negative value"
    if suffix == "format":
        return f"{column} value {value!r} is not a three-letter ISO 4217 currency code"
    if suffix == "allowed_values":
        return f"{column} value {value!r} is not an allowed FOCUS {version} value"
    return f"{column} value {value!r} fails {check}"


def build_rejects(raw: pl.DataFrame, work: Work, source_uri: str) -> tuple[pl.DataFrame, set[int]]:
    """One reject per failed source row (its first failure, naming the others) and the failed row indexes."""
    if not work.failures:
        return pl.DataFrame(schema=REJECT_SCHEMA).select(REJECT_COLUMNS), set()
    failures = pl.concat(work.failures).with_row_index("__order")
    per_row = (
        failures.sort("__idx", "__order")
        .group_by("__idx", maintain_order=True)
        .agg(pl.col("rule", "column_name", "reason").first(), others=pl.col("rule").slice(1))
    )
    raw_rows = raw.with_row_index("__idx")
    records = raw_rows.filter(pl.col("__idx").is_in(per_row["__idx"].implode()))
    record_text = {
        int(r.pop("__idx")): json.dumps(r, ensure_ascii=False) for r in records.to_dicts()
    }
    out = []
    for row in per_row.iter_rows(named=True):
        reason = row["reason"]
        if row["others"]:
            reason += f" (also fails: {', '.join(dict.fromkeys(row['others']))})"
        out.append({
            "source_uri": source_uri,
            "source_row": row["__idx"] + 1,
            "column_name": row["column_name"],
            "rule": row["rule"],
            "reason": reason,
            "raw_record": record_text[row["__idx"]],
        })  # fmt: skip
    rejects = pl.DataFrame(out, schema=REJECT_SCHEMA).select(REJECT_COLUMNS)
    return rejects, set(per_row["__idx"].to_list())


def build_findings(work: Work, source_uri: str, rejected: set[int]) -> pl.DataFrame:
    """The conformance findings of the kept rows: one per row, column and rule."""
    if not work.findings:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    found = (
        pl.concat(work.findings)
        .filter(~pl.col("__idx").is_in(pl.Series(sorted(rejected), dtype=pl.Int64).implode()))
        # A value that failed its cast is null afterwards: its not-null finding would repeat it.
        .unique(subset=["__idx", "column_name"], keep="first", maintain_order=True)
        .sort("__idx", maintain_order=True)
    )
    return (
        found.select(
            source_uri=pl.lit(source_uri),
            source_row=pl.col("__idx") + 1,
            column_name="column_name",
            rule="rule",
            value="value",
        )
        .cast(pl.Schema(FINDING_SCHEMA))
        .select(FINDING_COLUMNS)
    )
