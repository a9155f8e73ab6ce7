"""Contract checks on canonical events: pandera's failure cases become rejected rows, and the
reject threshold a file must stay under."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import polars as pl

from contracts.meter_event import EVENT_SCHEMA, REJECT_COLUMNS, REJECT_SCHEMA, MeterEvent
from etl.errors import ContractViolation

# pandera's polars backend runs each check of each column as its own query (about 90 per
# validation, ~20 ms whatever the row count). The model's checks are also read here as polars
# expressions and evaluated in one query: a frame they all pass is what pandera would return
# unchanged; anything else (a failing row, another dtype, a check not listed below) goes through
# pandera itself, which names the failures. The rules stay in the model, written once.
_CHECK_EXPRESSIONS: dict[str, Callable[..., pl.Expr]] = {
    "str_length": lambda c, min_value=None, max_value=None, exact_value=None: (
        c.str.len_chars() == exact_value
        if exact_value is not None
        else c.str.len_chars().is_between(
            min_value if min_value is not None else 0,
            max_value if max_value is not None else 2**63 - 1,
        )
    ),
    "isin": lambda c, allowed_values: c.is_in(list(allowed_values)),
    "notin": lambda c, forbidden_values: ~c.is_in(list(forbidden_values)),
    "greater_than_or_equal_to": lambda c, min_value: c >= min_value,
    "greater_than": lambda c, min_value: c > min_value,
    "less_than_or_equal_to": lambda c, max_value: c <= max_value,
    "less_than": lambda c, max_value: c < max_value,
    "equal_to": lambda c, value: c == value,
    "not_equal_to": lambda c, value: c != value,
}


@cache
def _contract_expression() -> pl.Expr | None:
    """True on a row that passes every check of the MeterEvent model; None when the model
    holds something not expressible here (then pandera alone decides)."""
    schema: Any = MeterEvent.to_schema()
    if schema.checks or schema.unique or getattr(schema, "parsers", None):
        return None
    passes: list[pl.Expr] = []
    for name, column in schema.columns.items():
        if column.regex or column.unique or getattr(column, "parsers", None):
            return None
        col = pl.col(name)
        if not column.nullable:
            passes.append(col.is_not_null())
            if EVENT_SCHEMA[name].is_float():
                passes.append(col.is_not_nan())
        for check in column.checks:
            build = _CHECK_EXPRESSIONS.get(check.name)
            if build is None or check.element_wise or check.groupby is not None:
                return None
            try:
                expr = build(col, **check.statistics)
            except TypeError:  # statistics this builder does not know
                return None
            # pandera's ignore_na: a null passes the check (nullability is its own check)
            passes.append(col.is_null() | expr if check.ignore_na else expr.fill_null(False))
    return pl.all_horizontal(passes).all() if passes else pl.lit(True)


def passes_contract(events: pl.DataFrame) -> bool:
    """True when `events` has exactly the MeterEvent columns and dtypes and every row passes
    every check: what pandera would return unchanged, known in one query."""
    expression = _contract_expression()
    if expression is None or events.schema != EVENT_SCHEMA:
        return False
    return events.height == 0 or bool(events.select(expression).item())


def validate_events(events: pl.DataFrame, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run the MeterEvent contract; rows that fail a check move to rejects with the check's name."""
    import pandera.errors as pa_errors

    if passes_contract(events):
        return events, pl.DataFrame(schema=REJECT_SCHEMA)
    try:
        return MeterEvent.validate(events, lazy=True), pl.DataFrame(schema=REJECT_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise ContractViolation(f"{uri}: events do not have the MeterEvent columns: {exc}") from exc
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if cases.filter(pl.col("index").is_null()).height:
            raise ContractViolation(f"{uri}: events break the MeterEvent schema: {exc}") from exc
        bad = cases.select(
            pl.col("index").cast(pl.Int64), "column", "check", pl.col("failure_case").cast(pl.Utf8)
        ).unique(subset=["index"], keep="first", maintain_order=True)
        indexed = events.with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
        failed = indexed.join(bad, left_on="_i", right_on="index", how="inner")
        rejects = (
            failed.select(
                pl.col("source_uri"),
                pl.col("source_row"),
                pl.col("column").alias("column_name"),
                (
                    pl.lit("contract.MeterEvent.")
                    + pl.col("column")
                    + pl.lit(".")
                    + pl.col("check")
                ).alias("rule"),
                pl.when(pl.col("failure_case").is_null())
                .then(pl.col("column") + pl.lit(" is missing (null) and fails ") + pl.col("check"))
                .otherwise(
                    pl.col("column")
                    + pl.lit(" value ")
                    + pl.col("failure_case").str.slice(0, 80)
                    + pl.lit(" fails ")
                    + pl.col("check")
                )
                .alias("reason"),
                pl.lit(None, dtype=pl.Utf8).alias("raw_record"),
            )
            .cast(REJECT_SCHEMA)
            .select(REJECT_COLUMNS)
        )
        good = indexed.join(bad, left_on="_i", right_on="index", how="anti").drop("_i")
        return MeterEvent.validate(good), rejects


def over_threshold(
    uri: str, rows_in: int, rules: dict[str, int], threshold: float
) -> ContractViolation | None:
    """The error of a file that has more than `threshold` (METERHOUSE_REJECT_THRESHOLD) of its
    rows rejected, or None (`rules`: rejected rows per rule)."""
    rejected = sum(rules.values())
    if not rows_in or rejected / rows_in <= threshold:
        return None
    top = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasons = "; ".join(f"{rule} x{count}" for rule, count in top)
    return ContractViolation(
        f"{uri}: {rejected} of {rows_in} rows rejected "
        f"({rejected / rows_in:.0%}), over the reject threshold of "
        f"{threshold:.0%} (METERHOUSE_REJECT_THRESHOLD); most common: {reasons}. "
        "Fix the export and upload it again"
    )
