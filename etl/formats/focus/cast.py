"""The typed cast layer: FOCUS text values -> typed columns; repairs noted, bad values failed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Final

import polars as pl

from contracts.focus import (
    ALLOWED_VALUES,
    FOCUS_DECIMAL,
    FOCUS_INTEGER_DIGITS,
    FOCUS_MODELS,
    FOCUS_SCALE,
    KEY_VALUE,
    LEGACY_VALUE_ALIASES,
    UNIT_COLUMNS,
)
from etl.formats.focus.columns import (
    ALL_DTYPES,
    DATETIME_COLUMNS,
    DECIMAL_COLUMNS,
    JSON_TEXT_COLUMNS,
    KEY_VALUE_COLUMNS,
    F,
)
from etl.formats.focus.rejects import Work, reasons

NULL_TOKENS: Final = ("", "NULL", "null")
"""Values that mean null in a FOCUS export."""
# Microsoft exports fill some nullable columns with placeholders instead of null
# (MS FOCUS conformance summary); only nullable free-text FOCUS columns are cleaned.
_MICROSOFT_PLACEHOLDERS: Final = ("-2", "Unassigned")
_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.f%:z"
# FOCUS Numeric Format: sign, digits with an optional fraction, optional exponent.
_NUMBER: Final = r"^([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$"
# FOCUS UnitFormat (SHOULD): a data size, a time unit or a count noun; "<unit>-<plural time>"
# (GB-Hours); "<unit>/<singular time>" (GB/Hour); "<n> <unit>" (1000 Requests);
# "<unit>/<n> <plural time>" (Requests/3 Months). The same grammar the FinOps validator applies.
_SIZE = "(?:[KMGTPE]i?[bB]|[bB])"
_TIME_ONE = "(?:Year|Month|Day|Hour|Minute|Second)"
_TIME_MANY = "(?:Years|Months|Days|Hours|Minutes|Seconds)"
_COUNT = r"(?:[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*)"
_UNIT = f"(?:{_SIZE}|{_TIME_ONE}|{_TIME_MANY}|{_COUNT})"
UNIT_FORMAT: Final = (
    f"^(?:{_UNIT}|(?:{_SIZE}|{_COUNT})-{_TIME_MANY}|(?:{_SIZE}|{_COUNT}|{_TIME_MANY})/{_TIME_ONE}"
    f"|[0-9]+ {_UNIT}|(?:{_SIZE}|{_COUNT}|{_TIME_MANY})/[0-9]+ {_TIME_MANY})$"
)
_MAX_LISTED_VALUES: Final = 8


def clean_null_tokens(series: pl.Series, column: str, work: Work) -> pl.Series:
    """Null tokens ("", NULL, null) and blank values -> null, noted per column."""
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


def _parse_decimal(series: pl.Series, column: str, work: Work) -> pl.Series:
    text = series.str.strip_chars()
    # Exactness is decided on the text: a cast to Decimal(38, 18) would round extra places.
    # Places the value needs = fraction digits - exponent - trailing zeros of the digits.
    parts = pl.DataFrame({"t": text}).select(
        number=pl.col("t").str.contains(_NUMBER) & pl.col("t").str.contains(r"\d"),
        digits=pl.col("t").str.extract(_NUMBER, 2) + pl.col("t").str.extract(_NUMBER, 3),
        fraction=pl.col("t").str.extract(_NUMBER, 3).str.len_chars().fill_null(0),
        exponent=pl.col("t").str.extract(_NUMBER, 4).cast(pl.Int64).fill_null(0),
    )
    places = pl.select(
        parts["fraction"].cast(pl.Int64)
        - parts["exponent"]
        - (
            parts["digits"].str.len_chars()
            - parts["digits"].str.strip_chars_end("0").str.len_chars()
        ).cast(pl.Int64)
    ).to_series()
    cast = text.cast(FOCUS_DECIMAL, strict=False)
    number = parts["number"].fill_null(False)
    inexact = number & ((places > FOCUS_SCALE) | cast.is_null())
    value = cast.zip_with(~inexact, pl.Series([None], dtype=FOCUS_DECIMAL))
    work.fail(
        inexact,
        f"focus.{column}.precision",
        column,
        lambda: reasons(
            series,
            f"{column} value ",
            f" cannot be held exactly: meterhouse stores FOCUS numbers as Decimal(38, "
            f"{FOCUS_SCALE}) (at most {FOCUS_SCALE} decimal places and "
            f"{FOCUS_INTEGER_DIGITS} integer digits) and never rounds; re-export it with at "
            f"most {FOCUS_SCALE} decimal places",
        ),
        series,
    )
    bad = text.is_not_null() & ~number
    work.fail(
        bad,
        f"focus.{column}.decimal",
        column,
        lambda: reasons(
            series,
            f"{column} value ",
            " is not a decimal number (FOCUS Numeric Format, e.g. 12.5 or 1.2E-7)",
        ),
        series,
    )
    return value.zip_with(~bad, pl.Series([None], dtype=FOCUS_DECIMAL)).alias(column)


def _parse_timestamp(series: pl.Series, column: str, work: Work) -> pl.Series:
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
        lambda: reasons(
            series,
            f"{column} value ",
            " is not an ISO 8601 date/time (expected e.g. 2024-09-01T00:00:00Z)",
        ),
        series,
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


def _parse_key_value(series: pl.Series, column: str, work: Work) -> pl.Series:
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
        work.fail(bad, f"focus.{column}.key_value_format", column, reasons, series)
    return value.alias(column)


def _check_json(series: pl.Series, column: str, work: Work) -> pl.Series:
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
        work.fail(bad, f"focus.{column}.json", column, reasons, series)
    return series


def _repair_allowed_values(series: pl.Series, column: str, work: Work) -> pl.Series:
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
        lambda: reasons(
            series,
            f"{column} value ",
            f" is not an allowed FOCUS {work.version} value (allowed: {listed})",
        ),
        series,
    )
    return value.alias(column)


def _repair_currency(series: pl.Series, column: str, work: Work) -> pl.Series:
    fixed = series.str.strip_chars().str.to_uppercase()
    changed = (fixed != series).sum()
    if changed:
        work.notes.append(f"{column}: currency code upper-cased/trimmed ({changed} rows)")
    return fixed.alias(column)


def cast_column(series: pl.Series, column: str, work: Work) -> pl.Series:
    """A FOCUS column as text -> its type, with case and currency repairs; bad values fail their rows."""
    cleaned = clean_null_tokens(series, column, work)
    if column in DECIMAL_COLUMNS:
        return _parse_decimal(cleaned, column, work)
    if column in DATETIME_COLUMNS:
        return _parse_timestamp(cleaned, column, work)
    if column in KEY_VALUE_COLUMNS:
        return _parse_key_value(cleaned, column, work)
    if column in JSON_TEXT_COLUMNS:
        return _check_json(cleaned, column, work)
    if column in ALLOWED_VALUES:
        return _repair_allowed_values(cleaned, column, work)
    if column == F.BillingCurrency:
        return _repair_currency(cleaned, column, work)
    if column in UNIT_COLUMNS:
        work.find(
            (~cleaned.str.contains(UNIT_FORMAT)).fill_null(False),
            f"focus.{column}.unit_format",
            column,
            cleaned,
        )
    return cleaned


def clear_microsoft_placeholders(typed: pl.DataFrame, version: str, work: Work) -> pl.DataFrame:
    """Microsoft placeholder values in nullable free-text columns -> null (noted)."""
    provider = (
        typed[F.ProviderName].str.to_lowercase().str.starts_with("microsoft").fill_null(False)
    )
    if not provider.any():
        return typed
    model_columns = FOCUS_MODELS[version].to_schema().columns
    targets = [
        name for name, col in model_columns.items()
        if col.nullable and ALL_DTYPES[name] == pl.String and name not in ALLOWED_VALUES
        and name not in JSON_TEXT_COLUMNS
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
