"""Contract checks on canonical events: pandera's failure cases become rejected rows, and the
reject threshold a file must stay under."""

from __future__ import annotations

import polars as pl

from contracts.meter_event import REJECT_COLUMNS, REJECT_SCHEMA, MeterEvent
from etl.errors import ContractViolation


def validate_events(events: pl.DataFrame, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run the MeterEvent contract; rows that fail a check move to rejects with the check's name."""
    import pandera.errors as pa_errors

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
                (
                    pl.col("column")
                    + pl.lit(" value ")
                    + pl.col("failure_case").str.slice(0, 80)
                    + pl.lit(" fails ")
                    + pl.col("check")
                ).alias("reason"),
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
