"""FOCUS cost-and-usage exports (CSV or Parquet, versions 1.0-1.3) -> typed line items, meter events.

Pure: bytes in, frames out. The shape of the work:

1. Read every value as text (CSV: all columns String; Parquet: each column rendered as text, maps
   and structs as JSON), so CSV and Parquet share one typed cast layer and money never passes
   through float.
2. Map headers case-insensitively to canonical FOCUS PascalCase; everything else (provider `x_`
   columns and unknown columns) goes into `x_extra`.
3. Detect the FOCUS version from the columns present; a missing mandatory column is a
   `ContractViolation` for the whole file.
4. Cast: null tokens, decimals (Decimal(38, 12)), timestamps (UTC), key-value JSON, allowed-value
   case repair. A value that cannot be cast rejects its row.
5. Validate the typed rows against the version's pandera model (`contracts.focus`); failures reject
   their rows with the check's rule name.
6. Map accepted rows to canonical meter events.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

import pandera.polars as pa
import polars as pl

from contracts.focus import (
    ALLOWED_VALUES,
    FOCUS_COLUMNS,
    FOCUS_DATETIME,
    FOCUS_DECIMAL,
    FOCUS_LINE_ITEM_SCHEMA,
    FOCUS_MODELS,
    KEY_VALUE,
    LEGACY_VALUE_ALIASES,
    PERIOD_CHECKS,
    SOFT_NOT_NULL,
    FocusCostAndUsage13,
    column_dtypes,
    focus_columns,
    mandatory_columns,
)
from contracts.meter_event import EVENT_COLUMNS, EVENT_SCHEMA, REJECT_COLUMNS, REJECT_SCHEMA
from etl.errors import ContractViolation, FormatError

log = logging.getLogger(__name__)

# pandera turns attribute access on a model into the column name; typed Any because mypy only sees
# the dtype annotation.
F: Any = FocusCostAndUsage13

_ALL_DTYPES: Final = column_dtypes("1.3")


_DECIMAL_COLUMNS: Final = frozenset(c for c, d in _ALL_DTYPES.items() if d == FOCUS_DECIMAL)
_DATETIME_COLUMNS: Final = frozenset(c for c, d in _ALL_DTYPES.items() if d == FOCUS_DATETIME)
_KEY_VALUE_COLUMNS: Final = frozenset(c for c, d in _ALL_DTYPES.items() if d == KEY_VALUE)
# JSON columns that are not plain key-value maps are kept as (validated) JSON text.
_JSON_TEXT_COLUMNS: Final = frozenset(
    {F.SkuPriceDetails, F.AllocatedMethodDetails, F.ContractApplied}
)
_CANONICAL_BY_LOWER: Final = {name.lower(): name for name in _ALL_DTYPES}

_VERSION_ONLY_COLUMNS: Final = {
    "1.3": frozenset(focus_columns("1.3")) - frozenset(focus_columns("1.2")),
    "1.2": frozenset(focus_columns("1.2")) - frozenset(focus_columns("1.1")),
    "1.1": frozenset(focus_columns("1.1")) - frozenset(focus_columns("1.0")),
}
# FinOps-toolkit's 1.0 markers (IngestionSetup_v1_2.kql): columns that 1.0 introduced.
_V10_MARKERS: Final = frozenset({
    F.ChargeClass, F.CommitmentDiscountStatus, F.ConsumedQuantity, F.ConsumedUnit,
    F.ContractedCost, F.ContractedUnitPrice, F.RegionId, F.RegionName,
})  # fmt: skip
# 0.5 / 1.0-preview spellings (renamed or removed in 1.0).
_PRE_10_COLUMNS: Final = frozenset(
    {"chargesubcategory", "region", "usagequantity", "usageunit", "amortizedcost", "chargetype"}
)

NULL_TOKENS: Final = ("", "NULL", "null")
# Microsoft exports fill some nullable columns with placeholders instead of null
# (MS FOCUS conformance summary); only nullable free-text FOCUS columns are cleaned.
_MICROSOFT_PLACEHOLDERS: Final = ("-2", "Unassigned")

# FOCUS context copied into every event's dimensions (key, source column). A tag with one of
# these keys is shadowed in `dimensions` (it stays in line_items.Tags).
_CONTEXT_DIMENSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("provider", "_provider"),
    ("billing_account_id", F.BillingAccountId),
    ("sub_account_id", F.SubAccountId),
    ("service_category", F.ServiceCategory),
    ("service_name", F.ServiceName),
    ("region_id", F.RegionId),
    ("resource_id", F.ResourceId),
    ("charge_category", F.ChargeCategory),
    ("charge_class", F.ChargeClass),
    ("pricing_category", F.PricingCategory),
    ("sku_id", F.SkuId),
)
_CONTEXT_KEYS: Final = tuple(key for key, _ in _CONTEXT_DIMENSIONS)

# The row content that identifies a charge, independent of file name, row position and format.
# InvoiceId and x_ columns are left out: providers fill them in later or stamp export times there.
_EVENT_ID_COLUMNS: Final = (
    "_provider", F.BillingAccountId, F.SubAccountId, F.BillingPeriodStart, F.ChargePeriodStart,
    F.ChargePeriodEnd, F.ChargeCategory, F.ChargeClass, F.ChargeFrequency, F.ServiceName,
    F.ResourceId, F.SkuId, F.SkuPriceId, F.SkuMeter, F.ChargeDescription, F.RegionId,
    F.AvailabilityZone, F.CommitmentDiscountId, F.CommitmentDiscountStatus,
    F.CapacityReservationId, F.PricingCategory, F.BillingCurrency, F.BilledCost,
    F.EffectiveCost, F.ListCost, F.ContractedCost, F.PricingQuantity, F.PricingUnit,
    F.ConsumedQuantity, F.ConsumedUnit, F.Tags,
)  # fmt: skip

_PANDERA_RULES: Final = {
    "not_nullable": "not_null",
    "isin": "allowed_values",
    "greater_than_or_equal_to": "non_negative",
    "str_matches": "format",
}
_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.f%:z"
_MAX_LISTED_VALUES: Final = 8
_EMPTY_FRAME_COLUMNS: Final = ("__idx", "rule", "column_name", "reason")


@dataclass(frozen=True)
class FocusParseResult:
    """What one FOCUS file became.

    `line_items` and `events` hold the same accepted rows (one event per line item); `rejects`
    holds one row per source row that was turned away. `warnings` lists spec breaches that were
    kept on purpose (documented provider conformance gaps).
    """

    line_items: pl.DataFrame
    events: pl.DataFrame
    rejects: pl.DataFrame
    focus_version: str
    normalizations: list[str]
    rows_in: int
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# header helpers
# --------------------------------------------------------------------------------------------------


def _clean_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().strip('"').strip()


def _canonical(name: str) -> str | None:
    return _CANONICAL_BY_LOWER.get(_clean_header(name).lower())


def is_focus_header(columns: Sequence[str]) -> bool:
    """True if these column names look like a FOCUS export (case-insensitive).

    At least five of the 21 columns every FOCUS 1.x file must have are present. A file missing a
    mandatory column still counts as FOCUS, so it fails with a precise contract error instead of
    "unknown format".
    """
    present = {_canonical(c) for c in columns}
    return len(present & set(mandatory_columns("1.0"))) >= 5


def detect_focus_version(columns: Sequence[str]) -> str:
    """The lowest FOCUS version whose column set explains the columns present.

    1.3 if any 1.3-only column (ServiceProviderName, HostProviderName, ContractApplied,
    Allocated*); else 1.2 if any 1.2-only column (InvoiceId, PricingCurrency*, BillingAccountType,
    SubAccountType); else 1.1 if any 1.1-only column (SkuMeter, SkuPriceDetails, CapacityReservation*,
    CommitmentDiscountQuantity/Unit, ServiceSubcategory); else 1.0. This refines FinOps-toolkit's
    heuristic, which treats SkuMeter as 1.2 although the spec introduced it in 1.1. Files with
    0.5 / 1.0-preview columns (ChargeType, AmortizedCost, UsageQuantity, Region...) and none of the
    1.0 markers raise ContractViolation: only 1.0+ is supported.
    """
    present = {c for c in (_canonical(name) for name in columns) if c is not None}
    for version in ("1.3", "1.2", "1.1"):
        if present & _VERSION_ONLY_COLUMNS[version]:
            return version
    legacy = sorted(
        _clean_header(c) for c in columns if _clean_header(c).lower() in _PRE_10_COLUMNS
    )
    if legacy and not present & _V10_MARKERS:
        raise ContractViolation(
            f"columns {', '.join(legacy)} are FOCUS 0.5/1.0-preview names; only FOCUS 1.0-1.3 "
            "is supported: re-export the data as FOCUS 1.0 or later"
        )
    return "1.0"


_BILLING_PERIOD_DIR = re.compile(r"/billing_period=[^/]*(/|$)", re.IGNORECASE)


def focus_delivery_key(source_uri: str) -> str:
    """Identity of the export a file belongs to, for replacing a billing period on re-delivery.

    The path before a `BILLING_PERIOD=`/`billing_period=` folder (AWS Data Exports layout:
    `<prefix>/<export>/data/BILLING_PERIOD=2024-09/part.csv.gz` -> `<prefix>/<export>/data`), else
    the file's parent folder.
    """
    match = _BILLING_PERIOD_DIR.search(source_uri)
    if match:
        return source_uri[: match.start()]
    head, sep, _ = source_uri.rstrip("/").rpartition("/")
    return head if sep else ""


# --------------------------------------------------------------------------------------------------
# reading: everything becomes text first
# --------------------------------------------------------------------------------------------------


def _read_csv(data: bytes, source_uri: str) -> pl.DataFrame:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise FormatError(f"{source_uri}: empty FOCUS CSV (no header row); re-export the file")
    try:
        # All columns as text: the cast layer decides types, so money never becomes float and
        # "NULL" stays visible as a token. Empty fields stay "" for raw_record fidelity.
        return pl.read_csv(io.BytesIO(data), infer_schema=False, empty_string_is_null=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{source_uri}: not a readable FOCUS CSV: {exc}") from exc


def _read_parquet(data: bytes, source_uri: str) -> tuple[pl.DataFrame, list[str]]:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{source_uri}: not a readable FOCUS Parquet file: {exc}") from exc
    notes: list[str] = []
    columns: list[pl.Series] = []
    for series in frame.get_columns():
        dtype = series.dtype
        if dtype.is_float():
            count = series.is_not_null().sum()
            if count:
                notes.append(
                    f"{series.name}: Parquet {dtype} read through its shortest decimal text "
                    f"({count} rows)"
                )
        columns.append(
            _as_text(series, drop_null_fields=_canonical(series.name) in _KEY_VALUE_COLUMNS)
        )
    return pl.DataFrame(columns), notes


def _as_text(series: pl.Series, *, drop_null_fields: bool) -> pl.Series:
    """A Parquet column as text: numbers exact, timestamps ISO UTC, nested values as JSON."""
    dtype = series.dtype
    if dtype == pl.String:
        return series
    if isinstance(dtype, pl.Datetime):
        utc = series.dt.convert_time_zone("UTC") if dtype.time_zone else series
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    if dtype == pl.Date:
        return series.dt.strftime("%Y-%m-%d")
    if dtype.is_nested() or isinstance(dtype, pl.Map):
        values = [
            None if v is None else _json_text(v, drop_null_fields=drop_null_fields)
            for v in series.to_list()
        ]
        return pl.Series(series.name, values, dtype=pl.String)
    if dtype == pl.Binary:
        return series.cast(pl.String, strict=False)
    # Booleans ("true"/"false"), integers, decimals (exact) and floats (shortest round-trip text).
    return series.cast(pl.String)


def _json_text(value: object, *, drop_null_fields: bool) -> str:
    if drop_null_fields and isinstance(value, dict):
        # Struct-typed tag columns carry every key seen in the file; null means "not on this row".
        value = {k: v for k, v in value.items() if v is not None}
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# typed cast layer
# --------------------------------------------------------------------------------------------------


@dataclass
class _Work:
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


def _reasons(series: pl.Series, before: str, after: str, limit: int = 80) -> pl.Series:
    """Per-row reason text quoting the offending value (shortened: reasons are not raw records)."""
    quoted = pl.lit("'") + pl.lit(series).str.slice(0, limit) + pl.lit("'")
    return pl.select(pl.lit(before) + quoted + pl.lit(after)).to_series()


def _clean_null_tokens(series: pl.Series, column: str, work: _Work) -> pl.Series:
    stripped = series.str.strip_chars()
    is_token = stripped.is_in(NULL_TOKENS) & series.is_not_null()
    for token in ("NULL", "null"):
        count = (series == token).sum()
        if count:
            work.notes.append(f"{column}: null token {token!r} -> null ({count} rows)")
    blank = ((stripped == "") & (series != "")).sum()
    if blank:
        work.notes.append(f"{column}: whitespace-only value -> null ({blank} rows)")
    return series.zip_with(~is_token, pl.Series([None], dtype=pl.String)).alias(column)


def _parse_decimal(series: pl.Series, column: str, work: _Work) -> pl.Series:
    text = series.str.strip_chars()
    # Parse at scale 18 to see digits beyond 12: those are rounded (half to even) and recorded,
    # because a silent truncation would make warehouse totals drift from the provider's.
    wide = text.cast(pl.Decimal(38, 18), strict=False)
    narrow = text.cast(FOCUS_DECIMAL, strict=False)
    rounded = wide.round(12)
    value = pl.select(
        pl.when(wide.is_not_null()).then(rounded.cast(FOCUS_DECIMAL)).otherwise(narrow)
    ).to_series()
    excess = (wide.is_not_null() & (wide != rounded)).sum()
    if excess:
        work.notes.append(f"{column}: rounded to 12 decimal places ({excess} rows)")
    bad = text.is_not_null() & value.is_null()
    work.fail(
        bad,
        f"focus.{column}.decimal",
        column,
        lambda: _reasons(
            series,
            f"{column} value ",
            " is not a decimal number (FOCUS Numeric Format, e.g. "
            "12.5 or 1.2E-7) or does not fit Decimal(38, 12)",
        ),
    )
    return value.alias(column)


def _parse_timestamp(series: pl.Series, column: str, work: _Work) -> pl.Series:
    text = pl.col("t").str.strip_chars()
    # Normalise the forms seen in real exports to one pattern: space or T, optional fraction,
    # Z / UTC / +hhmm / +hh:mm / no designator (read as UTC), date-only (midnight).
    normal = (
        text.str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"(?i)\s*(Z|UTC)$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"(T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2})$", "${1}:00")
        .str.replace(r"(T\d{2}:\d{2})([+-]|$)", "${1}:00${2}")
    )
    has_zone = normal.str.contains(r"[+-]\d{2}:\d{2}$")
    # Exports repeat few distinct timestamps (periods, days, hours): the regex chain runs once per
    # distinct text and the result is joined back in row order.
    distinct = (
        pl.DataFrame({"t": series})
        .unique()
        .select(
            "t",
            value=pl.when(has_zone)
            .then(normal)
            .otherwise(normal + "+00:00")
            .str.to_datetime(_TIMESTAMP_FORMAT, time_zone="UTC", time_unit="us", strict=False),
            naive=pl.col("t").is_not_null() & ~has_zone,
        )
    )
    frame = pl.DataFrame({"t": series}).join(
        distinct, on="t", how="left", nulls_equal=True, maintain_order="left"
    )
    value = frame["value"]
    naive = (frame["naive"] & value.is_not_null()).sum()
    if naive:
        work.notes.append(f"{column}: no time zone designator, read as UTC ({naive} rows)")
    bad = series.is_not_null() & value.is_null()
    work.fail(
        bad,
        f"focus.{column}.timestamp",
        column,
        lambda: _reasons(
            series,
            f"{column} value ",
            " is not an ISO 8601 date/time (expected e.g. 2024-09-01T00:00:00Z)",
        ),
    )
    return value.alias(column)


def _kv_value(value: object) -> str | None:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    return _json_literal(value)


def _json_literal(value: object) -> str:
    # Re-serialise with numbers exactly as written in the source (parsed as Decimal / int).
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_literal(v) for v in value) + "]"
    if value is True or value is False or value is None:
        return json.dumps(value)
    if isinstance(value, Decimal | int):
        return str(value)
    return json.dumps(value)


def _parse_key_value_text(text: str, column: str) -> list[dict[str, str | None]]:
    """A key-value JSON text -> list of {key, value}; raises ValueError with the reason."""
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_int=int, parse_constant=str)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{column} is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if isinstance(parsed, dict):
        return [{"key": str(k), "value": _kv_value(v)} for k, v in parsed.items()]
    # Arrays of {"key": ..., "value": ...} (BigQuery labels, Parquet maps rendered as JSON).
    if isinstance(parsed, list) and all(
        isinstance(e, dict) and {k.lower() for k in e} == {"key", "value"} for e in parsed
    ):
        pairs = [{k.lower(): v for k, v in e.items()} for e in parsed]
        return [{"key": str(p["key"]), "value": _kv_value(p["value"])} for p in pairs]
    kind = type(parsed).__name__
    raise ValueError(f"{column} must be a JSON object of key-value pairs, got a JSON {kind}")


def _parse_key_value(series: pl.Series, column: str, work: _Work) -> pl.Series:
    parsed: dict[str, list[dict[str, str | None]]] = {}
    errors: dict[str, str] = {}
    for text in series.drop_nulls().unique().to_list():
        try:
            parsed[text] = _parse_key_value_text(text, column)
        except ValueError as exc:
            errors[text] = str(exc)
    value = series.replace_strict(
        list(parsed), list(parsed.values()), default=None, return_dtype=KEY_VALUE
    )
    bad = series.is_in(list(errors))
    if bad.any():
        reasons = series.replace_strict(
            list(errors), list(errors.values()), default=None, return_dtype=pl.String
        )
        work.fail(bad, f"focus.{column}.key_value_format", column, reasons)
    return value.alias(column)


def _check_json(series: pl.Series, column: str, work: _Work) -> pl.Series:
    errors: dict[str, str] = {}
    for text in series.drop_nulls().unique().to_list():
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            errors[text] = f"{column} is not valid JSON ({exc.msg} at character {exc.pos})"
    bad = series.is_in(list(errors))
    if bad.any():
        reasons = series.replace_strict(
            list(errors), list(errors.values()), default=None, return_dtype=pl.String
        )
        work.fail(bad, f"focus.{column}.json", column, reasons)
    return series


def _repair_allowed_values(series: pl.Series, column: str, work: _Work) -> pl.Series:
    allowed = ALLOWED_VALUES[column]
    lookup = {a.lower(): a for a in allowed} | LEGACY_VALUE_ALIASES.get(column, {})
    mapping: dict[str, str] = {}
    counts = series.drop_nulls().value_counts()
    for raw, count in counts.iter_rows():
        if raw in allowed:
            continue
        fixed = lookup.get(" ".join(raw.split()).lower())
        if fixed is not None:
            mapping[raw] = fixed
            work.notes.append(f"{column}: {raw!r} -> {fixed!r} ({count} rows)")
    value = series.replace(mapping) if mapping else series
    bad = value.is_not_null() & ~value.is_in(allowed)
    listed = (
        ", ".join(allowed)
        if len(allowed) <= _MAX_LISTED_VALUES
        else f"one of the {len(allowed)} values listed in the spec"
    )
    work.fail(
        bad,
        f"focus.{column}.allowed_values",
        column,
        lambda: _reasons(
            series,
            f"{column} value ",
            f" is not an allowed FOCUS {work.version} value (allowed: {listed})",
        ),
    )
    return value.alias(column)


def _repair_currency(series: pl.Series, column: str, work: _Work) -> pl.Series:
    fixed = series.str.strip_chars().str.to_uppercase()
    changed = (fixed != series).sum()
    if changed:
        work.notes.append(f"{column}: currency code upper-cased/trimmed ({changed} rows)")
    return fixed.alias(column)


def _cast_column(series: pl.Series, column: str, work: _Work) -> pl.Series:
    cleaned = _clean_null_tokens(series, column, work)
    if column in _DECIMAL_COLUMNS:
        return _parse_decimal(cleaned, column, work)
    if column in _DATETIME_COLUMNS:
        return _parse_timestamp(cleaned, column, work)
    if column in _KEY_VALUE_COLUMNS:
        return _parse_key_value(cleaned, column, work)
    if column in _JSON_TEXT_COLUMNS:
        return _check_json(cleaned, column, work)
    if column in ALLOWED_VALUES:
        return _repair_allowed_values(cleaned, column, work)
    if column == F.BillingCurrency:
        return _repair_currency(cleaned, column, work)
    return cleaned


def _clear_microsoft_placeholders(typed: pl.DataFrame, version: str, work: _Work) -> pl.DataFrame:
    provider = (
        typed[F.ProviderName].str.to_lowercase().str.starts_with("microsoft").fill_null(False)
    )
    if not provider.any():
        return typed
    model_columns = FOCUS_MODELS[version].to_schema().columns
    targets = [
        name for name, col in model_columns.items()
        if col.nullable and _ALL_DTYPES[name] == pl.String and name not in ALLOWED_VALUES
        and name not in _JSON_TEXT_COLUMNS
    ]  # fmt: skip
    updates = []
    for name in targets:
        hit = provider & typed[name].is_in(_MICROSOFT_PLACEHOLDERS).fill_null(False)
        if hit.any():
            for token in _MICROSOFT_PLACEHOLDERS:
                count = (hit & (typed[name] == token)).sum()
                if count:
                    work.notes.append(
                        f"{name}: Microsoft placeholder {token!r} -> null ({count} rows)"
                    )
            updates.append(pl.when(pl.lit(hit)).then(None).otherwise(pl.col(name)).alias(name))
    return typed.with_columns(updates) if updates else typed


# --------------------------------------------------------------------------------------------------
# contract validation -> rejects
# --------------------------------------------------------------------------------------------------


def _contract_failures(typed: pl.DataFrame, work: _Work) -> None:
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


def _build_rejects(
    raw: pl.DataFrame, work: _Work, source_uri: str
) -> tuple[pl.DataFrame, set[int]]:
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


# --------------------------------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------------------------------


def _text_expr(name: str) -> pl.Expr:
    dtype = _ALL_DTYPES.get(name, pl.String())
    col = pl.col(name)
    if dtype == FOCUS_DATETIME:
        text = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    elif dtype == KEY_VALUE:
        pair = pl.concat_str(
            [
                pl.element().struct.field("key"),
                pl.element().struct.field("value").fill_null("\x00"),
            ],
            separator="=",
        )
        text = col.list.eval(pair).list.sort().list.join("\x1e")
    else:
        text = col.cast(pl.String)
    return text.fill_null("\x00")


def _per_distinct(items: pl.DataFrame, expr: pl.Expr, name: str) -> pl.Series:
    """`expr` over column `name`, evaluated once per distinct value and joined back in row order.

    For columns whose text form is slow to build per row and whose values repeat a lot: Tags
    (`list.eval`) and timestamps (`strftime`).
    """
    distinct = items.select(pl.col(name).unique()).with_columns(expr.alias("__text"))
    return (
        items.select(name)
        .join(distinct, on=name, how="left", nulls_equal=True, maintain_order="left")
        .get_column("__text")
    )


def _ordinal_among_equals(keys: pl.Series) -> pl.Series:
    """Per row, how many earlier rows have the same key (0 for the first of each key)."""
    frame = pl.DataFrame({"key": keys})
    # A key whose 64-bit hash is unique in the file is certainly unique; only rows whose hash
    # repeats (true duplicates, or a collision) are counted on the full text.
    repeated = frame.select(pl.col("key").hash().is_duplicated()).to_series()
    ordinal = pl.repeat(0, keys.len(), dtype=pl.Int64, eager=True)
    if repeated.any():
        among = frame.filter(repeated).select(pl.int_range(pl.len(), dtype=pl.Int64).over("key"))
        ordinal = ordinal.scatter(repeated.arg_true(), among.to_series())
    return ordinal


class RowKeyCounts:
    """How many rows of each content key earlier chunks of the same file held, so that
    identical rows keep their file-wide position among equals when a file is read in chunks.
    Keys are kept as 64-bit hashes (16 bytes per distinct row seen)."""

    def __init__(self) -> None:
        self.counts = pl.DataFrame(schema={"h": pl.UInt64, "n": pl.Int64})

    def offsets(self, keys: pl.Series) -> pl.Series:
        """Per row, how many earlier chunks' rows had its key; then counts this chunk's rows."""
        hashes = pl.DataFrame({"h": keys.hash()})
        before = (
            hashes.join(self.counts, on="h", how="left", maintain_order="left")
            .get_column("n")
            .fill_null(0)
        )
        self.counts = (
            pl.concat([self.counts, hashes.group_by("h").agg(pl.len().cast(pl.Int64).alias("n"))])
            .group_by("h")
            .agg(pl.col("n").sum())
        )
        return before


def _event_ids(items: pl.DataFrame, seen: RowKeyCounts | None = None) -> pl.Series:
    repeated_text = {
        c: _per_distinct(items, _text_expr(c), c)
        for c in _EVENT_ID_COLUMNS
        if _ALL_DTYPES.get(c) in (KEY_VALUE, FOCUS_DATETIME)
    }
    parts = [
        pl.lit(repeated_text[c]) if c in repeated_text else _text_expr(c) for c in _EVENT_ID_COLUMNS
    ]
    keys = items.select(key=pl.concat_str(parts, separator="\x1f")).to_series()
    # Identical rows in one file are distinct charges; their position among equals keeps
    # them apart and is the same on every re-delivery of the file.
    ordinal = _ordinal_among_equals(keys)
    if seen is not None:
        ordinal = ordinal + seen.offsets(keys)
    texts = pl.select(
        pl.concat_str([pl.lit(keys), pl.lit(ordinal).cast(pl.String)], separator="\x1d")
    ).to_series()
    ids = ["focus:" + hashlib.sha256(text.encode()).hexdigest() for text in texts.to_list()]
    return pl.Series("event_id", ids, dtype=pl.String)


def _dimensions(items: pl.DataFrame) -> pl.Series:
    """Per row: its tags (minus those shadowed by a context key), then the non-null FOCUS context
    values in `_CONTEXT_DIMENSIONS` order.

    Built long-form (explode/unpivot, drop, group back) because concatenating struct lists row
    by row is an order of magnitude slower in polars. `group_by(maintain_order=True)` keeps each
    row's entries in the order they are stacked: tags in list order, then context keys in order.
    """
    rows = items.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        pl.col(F.Tags),
        *[pl.col(c).cast(pl.String).alias(k) for k, c in _CONTEXT_DIMENSIONS],
    )
    tags = (
        rows.select("_row", F.Tags)
        .filter(pl.col(F.Tags).list.len() > 0)
        .explode(F.Tags)
        .select("_row", pl.col(F.Tags).struct.field("key"), pl.col(F.Tags).struct.field("value"))
        .filter(~pl.col("key").is_in(_CONTEXT_KEYS))
    )
    context = (
        rows.select("_row", *_CONTEXT_KEYS)
        .unpivot(index="_row", variable_name="key", value_name="value")
        .drop_nulls("value")
    )
    grouped = (
        pl.concat([tags, context])
        .group_by("_row", maintain_order=True)
        .agg(pl.struct("key", "value").alias("dimensions"))
    )
    return (
        rows.select("_row")
        .join(grouped, on="_row", how="left", maintain_order="left")
        .get_column("dimensions")
        .fill_null(pl.lit([], dtype=KEY_VALUE))
        .cast(KEY_VALUE)
    )


def _events(
    items: pl.DataFrame,
    customer_from: str,
    source_format: str,
    work: _Work,
    seen: RowKeyCounts | None = None,
) -> pl.DataFrame:
    with_provider = items.with_columns(_provider=pl.coalesce(F.ServiceProviderName, F.ProviderName))
    tags = pl.col(F.Tags).fill_null(pl.lit([], dtype=KEY_VALUE))
    shadowed = (
        with_provider.select(
            tags.list.eval(pl.element().struct.field("key").is_in(_CONTEXT_KEYS).any()).list.first()
        )
        .to_series()
        .fill_null(False)
        .sum()
    )
    if shadowed:
        work.notes.append(
            f"dimensions: a tag named like a FOCUS context key ({', '.join(_CONTEXT_KEYS)}) is "
            f"shadowed by the context value ({shadowed} rows); line_items.Tags keeps it"
        )
    consumed = pl.col(F.ConsumedQuantity).is_not_null()
    priced = pl.col(F.PricingQuantity).is_not_null()
    events = with_provider.with_columns(
        event_id=_event_ids(with_provider, seen),
        dimensions=_dimensions(with_provider),
    ).select(
        "event_id",
        customer_id=pl.coalesce(customer_from, F.BillingAccountId),
        meter_name=pl.coalesce(F.SkuMeter, F.SkuId, F.ServiceName),
        quantity=pl.when(consumed).then(pl.col(F.ConsumedQuantity))
        .when(priced).then(pl.col(F.PricingQuantity))
        .otherwise(pl.lit(0).cast(FOCUS_DECIMAL)),
        unit=pl.when(consumed).then(pl.col(F.ConsumedUnit))
        .when(priced).then(pl.col(F.PricingUnit))
        .otherwise(pl.lit(None, dtype=pl.String)),
        event_time=pl.col(F.ChargePeriodStart),
        event_date=pl.col(F.ChargePeriodStart).dt.date(),
        dimensions="dimensions",
        billed_cost=pl.col(F.BilledCost),
        effective_cost=pl.col(F.EffectiveCost),
        list_cost=pl.col(F.ListCost),
        contracted_cost=pl.col(F.ContractedCost),
        currency=pl.col(F.BillingCurrency),
        source_format=pl.lit(source_format),
        source_uri="source_uri",
        source_row="source_row",
    )  # fmt: skip
    return events.cast(pl.Schema(EVENT_SCHEMA)).select(EVENT_COLUMNS)


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def parse_focus(
    data: bytes,
    source_uri: str,
    *,
    kind: Literal["csv", "parquet"],
    customer_from: str = "SubAccountId",
    seen: RowKeyCounts | None = None,
) -> FocusParseResult:
    """Parse one FOCUS 1.0-1.3 export (already gunzipped) into line items, events and rejects.

    Raises FormatError when the bytes are not a readable CSV/Parquet file and ContractViolation
    when a mandatory column of the detected FOCUS version is missing (or the file is pre-1.0).
    A row with a bad value is rejected (rule `focus.<Column>.<check>`); every other row is kept.

    Events: `customer_id` is `customer_from` (default SubAccountId) falling back to
    BillingAccountId; `meter_name` is the first non-null of SkuMeter, SkuId, ServiceName;
    `quantity`/`unit` come from ConsumedQuantity/ConsumedUnit, else PricingQuantity/PricingUnit,
    else 0 and null; `event_time` is ChargePeriodStart; `dimensions` are the Tags plus FOCUS
    context keys (provider, billing_account_id, sub_account_id, service_category, service_name,
    region_id, resource_id, charge_category, charge_class, pricing_category, sku_id), which win
    over a tag of the same name. `event_id` is a SHA-256 of the row's FOCUS content (never of
    the file name or position), so a re-delivered row keeps its id; identical rows are told
    apart by their position among equals, counted across chunks through `seen` when a file is
    parsed in chunks.
    """
    primary = _CANONICAL_BY_LOWER.get(customer_from.lower())
    if primary is None or _ALL_DTYPES[primary] != pl.String:
        raise ValueError(f"customer_from={customer_from!r} is not a FOCUS text column")

    notes: list[str] = []
    if kind == "csv":
        raw = _read_csv(data, source_uri)
    elif kind == "parquet":
        raw, notes = _read_parquet(data, source_uri)
    else:
        raise ValueError(f"kind must be 'csv' or 'parquet', not {kind!r}")
    rows_in = raw.height

    duplicated = [c for c in raw.columns if re.search(r"_duplicated_\d+$", c)]
    if duplicated:
        raise ContractViolation(
            f"{source_uri}: column {duplicated[0].rsplit('_duplicated_', 1)[0]!r} appears more "
            "than once in the header; fix the export so each column appears once"
        )
    header_of: dict[str, str] = {}
    extras: list[str] = []
    for header in raw.columns:
        canonical = _canonical(header)
        if canonical is None:
            extras.append(header)
        elif canonical in header_of:
            raise ContractViolation(
                f"{source_uri}: columns {header_of[canonical]!r} and {header!r} both map to FOCUS "
                f"column {canonical} (headers are matched case-insensitively); keep one"
            )
        else:
            header_of[canonical] = header
    try:
        version = detect_focus_version(raw.columns)
    except ContractViolation as exc:
        raise ContractViolation(f"{source_uri}: {exc}") from exc
    missing = [c for c in mandatory_columns(version) if c not in header_of]
    if missing:
        raise ContractViolation(
            f"{source_uri}: FOCUS {version} export is missing mandatory column(s) "
            f"{', '.join(missing)} (version detected from the columns present); re-export with "
            f"all mandatory FOCUS {version} columns or add {'them' if len(missing) > 1 else 'it'} "
            "(values may be null only where the spec allows)"
        )
    renamed = {canonical: header for canonical, header in header_of.items() if canonical != header}
    if renamed:
        notes.append(
            "headers renamed to canonical FOCUS names: "
            + ", ".join(f"{h!r} -> {c}" for c, h in sorted(renamed.items()))
        )

    work = _Work(version=version, idx=pl.Series("__idx", range(rows_in), dtype=pl.Int64))
    work.notes.extend(notes)
    typed_columns = [work.idx]
    for canonical in FOCUS_COLUMNS:
        if canonical in header_of:
            typed_columns.append(_cast_column(raw[header_of[canonical]], canonical, work))
        else:
            typed_columns.append(
                pl.repeat(None, rows_in, dtype=_ALL_DTYPES[canonical], eager=True).alias(canonical)
            )
    typed = pl.DataFrame(typed_columns)
    typed = _clear_microsoft_placeholders(typed, version, work)
    if extras:
        cleaned = [_clean_null_tokens(raw[h], h, work) for h in extras]
        x_extra = (
            pl.DataFrame(cleaned)
            .select(
                pl.concat_list(
                    [pl.struct(key=pl.lit(h), value=pl.col(h)) for h in extras]
                ).list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null()))
            )
            .to_series()
        )
    else:
        x_extra = pl.repeat(pl.lit([], dtype=KEY_VALUE), rows_in, eager=True)
    typed = typed.with_columns(x_extra.alias("x_extra"))

    cast_failed = (
        pl.concat(work.failures)["__idx"].unique()
        if work.failures
        else pl.Series([], dtype=pl.Int64)
    )
    _contract_failures(typed.filter(~pl.col("__idx").is_in(cast_failed.implode())), work)
    rejects, rejected = _build_rejects(raw, work, source_uri)

    accepted = typed.filter(
        ~pl.col("__idx").is_in(pl.Series(sorted(rejected), dtype=pl.Int64).implode())
    )
    for column in SOFT_NOT_NULL[version]:
        if column in header_of:
            nulls = accepted[column].null_count()
            if nulls:
                work.warnings.append(
                    f"{column} is null in {nulls} rows; FOCUS {version} requires a value "
                    "(a known provider conformance gap; rows kept)"
                )
    line_items = (
        accepted.with_columns(
            x_focus_version=pl.lit(version),
            source_uri=pl.lit(source_uri),
            source_row=pl.col("__idx") + 1,
        )
        .select(list(FOCUS_LINE_ITEM_SCHEMA))
        .cast(pl.Schema(FOCUS_LINE_ITEM_SCHEMA))
    )
    source_format = "focus_csv" if kind == "csv" else "focus_parquet"
    events = _events(line_items, primary, source_format, work, seen)

    log.info(
        "step=parse_focus source=%s focus_version=%s rows_in=%d rows_out=%d rejected=%d "
        "normalizations=%d warnings=%d",
        source_uri, version, rows_in, line_items.height, rejects.height, len(work.notes),
        len(work.warnings),
    )  # fmt: skip
    return FocusParseResult(
        line_items=line_items,
        events=events,
        rejects=rejects,
        focus_version=version,
        normalizations=work.notes,
        rows_in=rows_in,
        warnings=work.warnings,
    )


__all__: Final[list[str]] = [
    "FOCUS_COLUMNS",
    "FOCUS_LINE_ITEM_SCHEMA",
    "FocusParseResult",
    "detect_focus_version",
    "focus_delivery_key",
    "is_focus_header",
    "parse_focus",
]
