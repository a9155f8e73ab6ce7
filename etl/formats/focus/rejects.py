"""Failures of a FOCUS parse and the rejected rows they become (cast failures and pandera's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import pandera.polars as pa
import polars as pl

from contracts.focus import FOCUS_MODELS, PERIOD_CHECKS
from contracts.meter_event import REJECT_COLUMNS, REJECT_SCHEMA
from etl.errors import ContractViolation

_PANDERA_RULES: Final = {
    "not_nullable": "not_null",
    "isin": "allowed_values",
    "greater_than_or_equal_to": "non_negative",
    "str_matches": "format",
}
_EMPTY_FRAME_COLUMNS: Final = ("__idx", "rule", "column_name", "reason")


@dataclass
class Work:
    """Mutable state of one parse: failures and notes accumulate here."""

    version: str
    idx: pl.Series
    failures: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(
        self,
        mask: pl.Series,
        rule: str,
        column: str,
        reasons: pl.Series | str | Callable[[], pl.Series],
    ) -> None:
        """Record `rule` for the rows in `mask`; a callable `reasons` is only built if any fail."""
        if not mask.any():
            return
        if callable(reasons):
            reasons = reasons()
        reason = reasons.filter(mask) if isinstance(reasons, pl.Series) else reasons
        frame = pl.DataFrame({"__idx": self.idx.filter(mask)}).with_columns(
            rule=pl.lit(rule), column_name=pl.lit(column), reason=reason
        )
        self.failures.append(frame.select(_EMPTY_FRAME_COLUMNS))


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
            reason = _check_reason(suffix, column, case["failure_case"], work.version, check)
        rows.append({"__idx": idx[position], "rule": rule, "column_name": column, "reason": reason})
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
