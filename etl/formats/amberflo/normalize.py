"""Raw Amberflo records -> canonical meter events, vectorized; bad rows become rejects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, AmberfloRecord
from contracts.meter_event import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    REJECT_COLUMNS,
    REJECT_SCHEMA,
    MeterEvent,
)
from etl.formats.base import SourceFormat

# pandera models give column names on attribute access; typed Any because mypy sees dtypes.
R: Any = AmberfloRecord
E: Any = MeterEvent

# The columns `with_source` adds: which file a raw record came from, and when it was written.
SOURCE_URI, SOURCE_FORMAT, WRITTEN_AT = "_source_uri", "_source_format", "_written_at"

CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
"""A C0 or C1 control character (NUL, tab, newline, ESC, ...): never part of an id or a name."""
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
"""A decimal number as text (what a meterValue out of range still looks like)."""
QUANTITY_INTEGER_DIGITS = 20
"""Digits a quantity holds before the decimal point (meter_events.quantity is DECIMAL(38, 18))."""
METER_VALUE = pl.Decimal(12 + QUANTITY_INTEGER_DIGITS, 12)
"""A meterValue: 12 decimal places, the rate card's and the rating's unit (etl.costs.tiers), so
every Amberflo quantity is rated exactly; more places are rejected, never rounded."""

# Epoch milliseconds before 2000-01-01 are almost always seconds or garbage.
MIN_EVENT_MS = 946_684_800_000
# An event may be stamped a little after its file was written (clock skew), not days after.
MAX_FUTURE_SKEW = timedelta(days=1)

# Amberflo records carry no unit. Data-center meters name theirs in a suffix
# (`gpu_hours`, `memory_gb_hours`, `network_egress_gb`); a dimension named `unit` wins.
# Longest suffix first: `_gb_hours` before `_hours`.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_gb_hours", "GB-Hours"),
    ("_gb_months", "GB-Months"),
    ("_gb_days", "GB-Days"),
    ("_hours", "Hours"),
    ("_seconds", "Seconds"),
    ("_kwh", "kWh"),
    ("_gb", "GB"),
    ("_tb", "TB"),
    ("_requests", "Requests"),
    ("_count", "Count"),
)


def unit_for_meter(meter: pl.Expr) -> pl.Expr:
    """The unit a meter's name implies, or null."""
    expr: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for suffix, unit in reversed(UNIT_SUFFIXES):
        expr = pl.when(meter.str.ends_with(suffix)).then(pl.lit(unit)).otherwise(expr)
    return expr


@dataclass(frozen=True)
class Normalized:
    """Events ready for the contract, and the rows normalization turned away."""

    events: pl.DataFrame
    rejects: pl.DataFrame


def _hash_event_id(row: dict[str, object]) -> str:
    # Deterministic across runs, processes and library versions (unlike pl.hash).
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _fill_hashed_ids(good: pl.DataFrame) -> pl.Series:
    """`uniqueId` where present, else a hash of the record (only those rows are hashed)."""
    ids = good.get_column("_unique")
    missing = ids.is_null()
    if not missing.any():
        return ids
    rows = good.filter(missing).select("_customer", "_meter", "_quantity", "_ms", R.dimensions)
    hashed = [
        _hash_event_id(
            {
                "c": r["_customer"],
                "m": r["_meter"],
                "v": str(r["_quantity"]),
                "t": r["_ms"],
                "d": [(d["key"], d["value"]) for d in r[R.dimensions]],
            }
        )
        for r in rows.iter_rows(named=True)
    ]
    positions = missing.arg_true()
    return ids.scatter(positions, pl.Series(hashed, dtype=pl.Utf8)).alias("_unique")


def quoted(column: str) -> pl.Expr:
    """The column's value in quotes, cut to 60 characters, for a reject reason."""
    return pl.lit("'") + pl.col(column).str.slice(0, 60) + pl.lit("'")


def _reason_rules() -> list[tuple[str, str, pl.Expr, pl.Expr]]:
    """(rule, column, failing-condition, reason) in the order they are reported."""
    value, ms = pl.col(R.meterValue), pl.col("_ms")
    # Per row: its file's write time plus the allowed skew, in epoch milliseconds.
    limit_ms = pl.col(WRITTEN_AT).dt.epoch("ms") + int(MAX_FUTURE_SKEW.total_seconds() * 1000)
    return [
        (
            "amberflo.customerId.required",
            R.customerId,
            pl.col("_customer").is_null(),
            pl.lit("customerId is missing or empty"),
        ),
        (
            "amberflo.customerId.control",
            R.customerId,
            pl.col("_customer").str.contains(CONTROL_CHARACTERS),
            pl.lit(
                "customerId contains a control character (NUL, tab, newline, escape, ...); "
                "ids are printable text: fix the producer"
            ),
        ),
        (
            "amberflo.meterApiName.required",
            R.meterApiName,
            pl.col("_meter").is_null(),
            pl.lit("meterApiName is missing or empty"),
        ),
        (
            "amberflo.meterApiName.control",
            R.meterApiName,
            pl.col("_meter").str.contains(CONTROL_CHARACTERS),
            pl.lit(
                "meterApiName contains a control character (NUL, tab, newline, escape, ...); "
                "meter names are printable text: fix the producer"
            ),
        ),
        (
            "amberflo.meterValue.required",
            R.meterValue,
            value.is_null(),
            pl.lit("meterValue is missing"),
        ),
        (
            "amberflo.meterValue.finite",
            R.meterValue,
            value.str.strip_chars().str.to_lowercase().str.contains(r"^[+-]?(nan|inf|infinity)$"),
            pl.lit("meterValue ") + quoted(R.meterValue) + pl.lit(" is not a finite number"),
        ),
        (
            "amberflo.meterValue.range",
            R.meterValue,
            pl.col("_quantity").is_null() & value.str.strip_chars().str.contains(NUMBER),
            pl.lit("meterValue ")
            + quoted(R.meterValue)
            + pl.lit(
                f" is out of range: a quantity holds at most {QUANTITY_INTEGER_DIGITS} digits "
                "before the decimal point; send it in a larger unit"
            ),
        ),
        (
            "amberflo.meterValue.number",
            R.meterValue,
            pl.col("_quantity").is_null(),
            pl.lit("meterValue ") + quoted(R.meterValue) + pl.lit(" is not a number"),
        ),
        (
            "amberflo.meterValue.precision",
            R.meterValue,
            (
                pl.col("_quantity_fine").is_not_null()
                & (
                    pl.col("_quantity_fine")
                    != pl.col("_quantity").cast(pl.Decimal(38, 24), strict=False)
                )
            )
            # A value so small that both scales hold it as 0 (1e-400) is not 0.
            | (
                (pl.col("_quantity") == 0) & value.str.replace(r"[eE].*$", "").str.contains("[1-9]")
            ),
            pl.lit("meterValue ")
            + quoted(R.meterValue)
            + pl.lit(
                " has more than 12 decimal places; quantities are stored to 12, round it at the source"
            ),
        ),
        (
            "amberflo.meterValue.non_negative",
            R.meterValue,
            pl.col("_quantity") < 0,
            pl.lit("meterValue ")
            + quoted(R.meterValue)
            + pl.lit(" is negative; send a correction as its own meter"),
        ),
        (
            "amberflo.meterTimeInMillis.required",
            R.meterTimeInMillis,
            pl.col(R.meterTimeInMillis).is_null(),
            pl.lit("meterTimeInMillis is missing"),
        ),
        (
            "amberflo.meterTimeInMillis.range",
            R.meterTimeInMillis,
            ms.is_null()
            & pl.col(R.meterTimeInMillis).str.strip_chars().str.contains(r"^[+-]?[0-9]+$"),
            pl.lit("meterTimeInMillis ")
            + quoted(R.meterTimeInMillis)
            + pl.lit(" is out of range for epoch milliseconds (a 64-bit integer)"),
        ),
        (
            "amberflo.meterTimeInMillis.integer",
            R.meterTimeInMillis,
            ms.is_null(),
            pl.lit("meterTimeInMillis ")
            + quoted(R.meterTimeInMillis)
            + pl.lit(" is not an integer of epoch milliseconds"),
        ),
        (
            "amberflo.meterTimeInMillis.seconds",
            R.meterTimeInMillis,
            ms.is_between(MIN_EVENT_MS // 1000, limit_ms // 1000),
            pl.lit("meterTimeInMillis ")
            + quoted(R.meterTimeInMillis)
            + pl.lit(" looks like epoch seconds; Amberflo expects milliseconds (multiply by 1000)"),
        ),
        (
            "amberflo.meterTimeInMillis.too_old",
            R.meterTimeInMillis,
            ms < MIN_EVENT_MS,
            pl.lit("meterTimeInMillis ")
            + quoted(R.meterTimeInMillis)
            + pl.lit(" is before 2000-01-01"),
        ),
        (
            "amberflo.meterTimeInMillis.future",
            R.meterTimeInMillis,
            ms > limit_ms,
            pl.lit("meterTimeInMillis ")
            + quoted(R.meterTimeInMillis)
            + pl.lit(" is more than a day after the file was written"),
        ),
    ]


def normalize_meter_records(
    records: pl.DataFrame, *, source_uri: str, source_format: SourceFormat, written_at: datetime
) -> Normalized:
    """Turn raw Amberflo records of one file into canonical meter events.

    `written_at` is the object's last-modified time: events stamped more than a day after it
    are rejected. Using the object's own time (not the clock) keeps re-runs identical.
    Each row fails on the first rule it breaks, so a reject names one specific reason.
    """
    return _normalize(records.lazy().with_columns(_source(source_uri, source_format, written_at)))


def _source(source_uri: str, source_format: SourceFormat, written_at: datetime) -> list[pl.Expr]:
    return [
        pl.lit(source_uri, dtype=pl.String).alias(SOURCE_URI),
        pl.lit(source_format, dtype=pl.String).alias(SOURCE_FORMAT),
        pl.lit(written_at.astimezone(UTC), dtype=pl.Datetime("us", "UTC")).alias(WRITTEN_AT),
    ]


def with_source(
    records: pl.DataFrame, source_uri: str, source_format: SourceFormat, written_at: datetime
) -> pl.DataFrame:
    """Raw records plus the file they came from, as `normalize_sources` takes them."""
    return records.with_columns(_source(source_uri, source_format, written_at))


@dataclass(frozen=True)
class _Plan:
    """The normalizer's expressions, built once: building them costs more than running them
    on a small file (the gateway normalizes every request)."""

    work: list[pl.Expr]
    rule: pl.Expr
    column: pl.Expr
    reason: pl.Expr
    rejects: list[pl.Expr]
    events: list[pl.Expr]


@cache
def _plan() -> _Plan:
    work = [
        # Ids that differ only in Unicode normalization (a composed and a decomposed é) are
        # one customer, one meter: both are stored in NFC.
        pl.col(R.customerId)
        .str.strip_chars()
        .str.normalize("NFC")
        .replace("", None)
        .alias("_customer"),
        pl.col(R.meterApiName)
        .str.strip_chars()
        .str.normalize("NFC")
        .replace("", None)
        .alias("_meter"),
        pl.col(R.meterValue).str.strip_chars().cast(METER_VALUE, strict=False).alias("_quantity"),
        # Wider scale for the precision check only: values under 10**14 fit, larger ones skip it.
        pl.col(R.meterValue)
        .str.strip_chars()
        .cast(pl.Decimal(38, 24), strict=False)
        .alias("_quantity_fine"),
        pl.col(R.meterTimeInMillis).str.strip_chars().cast(pl.Int64, strict=False).alias("_ms"),
        pl.col(R.uniqueId).str.strip_chars().replace("", None).alias("_unique"),
    ]
    rule_expr: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    column_expr: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    reason_expr: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for rule, column, failing, reason in reversed(_reason_rules()):
        cond = failing.fill_null(False)
        rule_expr = pl.when(cond).then(pl.lit(rule)).otherwise(rule_expr)
        column_expr = pl.when(cond).then(pl.lit(column)).otherwise(column_expr)
        reason_expr = pl.when(cond).then(reason).otherwise(reason_expr)
    rejects = [
        pl.col(SOURCE_URI).alias("source_uri"),
        pl.col(R.source_row),
        pl.col("column_name"),
        pl.col("rule"),
        pl.col("reason"),
        pl.coalesce(
            pl.col(R.raw_record),
            pl.struct([*AMBERFLO_FIELDS, R.dimensions]).struct.json_encode(),
        ).alias(R.raw_record),
    ]
    unit_from_dims = (
        pl.col(R.dimensions)
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == "unit").struct.field("value")
        )
        .list.first()
    )
    event_time = (
        pl.from_epoch(pl.col("_ms"), time_unit="ms")
        .dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us")
    )
    events = [
        pl.col("_unique").alias(E.event_id),
        pl.col("_customer").alias(E.customer_id),
        pl.col("_meter").alias(E.meter_name),
        pl.col("_quantity").alias(E.quantity),
        pl.coalesce(
            unit_from_dims,
            unit_for_meter(pl.col("_meter")),
        ).alias(E.unit),
        event_time.alias(E.event_time),
        event_time.dt.date().alias(E.event_date),
        pl.col(R.dimensions).alias(E.dimensions),
        pl.lit(None, dtype=EVENT_SCHEMA[E.billed_cost]).alias(E.billed_cost),
        pl.lit(None, dtype=EVENT_SCHEMA[E.effective_cost]).alias(E.effective_cost),
        pl.lit(None, dtype=EVENT_SCHEMA[E.list_cost]).alias(E.list_cost),
        pl.lit(None, dtype=EVENT_SCHEMA[E.contracted_cost]).alias(E.contracted_cost),
        pl.lit(None, dtype=pl.Utf8).alias(E.currency),
        pl.col(SOURCE_FORMAT).alias(E.source_format),
        pl.col(SOURCE_URI).alias(E.source_uri),
        pl.col(R.source_row).alias(E.source_row),
    ]
    return _Plan(work, rule_expr, column_expr, reason_expr, rejects, events)


def normalize_sources(records: pl.DataFrame) -> Normalized:
    """`normalize_meter_records` for the records of many files at once (one vectorized pass
    instead of one per small file); each row carries its file in the `with_source` columns."""
    return _normalize(records.lazy())


def _normalize(records: pl.LazyFrame) -> Normalized:
    plan = _plan()
    checked = (
        records.with_columns(plan.work)
        .with_columns(plan.rule.alias("rule"), plan.column.alias("column_name"))
        .collect()
    )
    rejected = checked.height - checked.get_column("rule").null_count()
    rejects = (
        pl.DataFrame(schema=REJECT_SCHEMA)
        if not rejected
        else checked.lazy()
        .filter(pl.col("rule").is_not_null())
        .with_columns(plan.reason.alias("reason"))  # only for the rows rejected
        .select(plan.rejects)
        .cast(REJECT_SCHEMA)
        .select(REJECT_COLUMNS)
        .collect()
    )
    good = checked.filter(pl.col("rule").is_null()) if rejected else checked
    filled = good.lazy()
    if good.get_column("_unique").null_count():
        filled = filled.with_columns(_fill_hashed_ids(good))
    events = filled.select(plan.events).cast(EVENT_SCHEMA).select(EVENT_COLUMNS).collect()
    return Normalized(events=events, rejects=rejects)
