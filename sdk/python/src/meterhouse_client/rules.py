"""The batch path's record rules, checked when a record is created.

A copy of the rules of meterhouse's batch path (``etl/formats/amberflo.py`` for the shape of a
record, ``etl/normalize.py`` for its values), with the same rule names, the same conditions and
the same order, so that a record `meter()` accepts is a record the gateway and the warehouse
accept. This package must stay importable without polars, hence a copy in plain Python rather
than an import; change both together.

Where the batch path cannot tell (it skips the precision check for values of 10**14 and more,
whose extra decimals it would silently cut), this module rejects: a quantity that cannot be
stored exactly is never rounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from meterhouse_client.errors import InvalidRecord

# Quantities are rated with 12 decimal places and stored in DECIMAL(38, 18): less than 10**20.
MAX_DECIMAL_PLACES = 12
MAX_INTEGER_DIGITS = 20
# A float's shortest repr names the decimal the caller meant only up to 15 significant digits
# (DBL_DIG); past that it is the binary approximation (0.1 + 0.2 -> 0.30000000000000004).
FLOAT_EXACT_DIGITS = 15
# Epoch milliseconds before 2000-01-01 are almost always seconds or garbage.
MIN_EVENT_MS = 946_684_800_000
# An event may be stamped a little after it was written (clock skew), not days after.
MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000
MAX_DIMENSIONS = 64
MAX_DIMENSION_KEY = 128
MAX_DIMENSION_VALUE = 1024
# meterTimeInMillis is a signed 64-bit integer in the warehouse.
_INT64_MAX = 2**63 - 1

FIELDS = ("customerId", "meterApiName", "meterValue", "meterTimeInMillis", "uniqueId")

_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
# What the warehouse's decimal cast reads: ASCII digits, an optional sign, point and exponent
# (Python's Decimal() would also take "1_000" and non-ASCII digits, which the batch path rejects).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?\d+", re.ASCII)


class CheckedFields(NamedTuple):
    """A record's values as the warehouse stores them."""

    customer_id: str
    meter_api_name: str
    meter_value: Decimal
    meter_time_in_millis: int
    unique_id: str | None
    dimensions: dict[str, str]


def check_record(record: dict[str, Any], now_ms: int) -> None:
    """Raise `InvalidRecord` for the first rule `record` breaks (the batch path's order).

    `record` is an Amberflo meter record as a dict (``customerId``, ``meterApiName``,
    ``meterValue``, ``meterTimeInMillis``, ``uniqueId``, ``dimensions``); `meterValue` may be
    an int, a Decimal, a str or a float. `now_ms` is the current time in epoch milliseconds:
    events more than a day after it are rejected.
    """
    checked_fields(record, now_ms)


def checked_fields(record: dict[str, Any], now_ms: int) -> CheckedFields:
    """`check_record`, returning the checked values (text stripped, blank uniqueId None)."""
    if not isinstance(record, dict):
        raise InvalidRecord("amberflo.record.object", "record is not a JSON object")
    # The parser's checks first (every field a single value, then the dimensions), then the
    # value checks, as the batch path reports them.
    for name in FIELDS:
        _scalar_text(record.get(name), name)
    dimensions = dimension_map(record.get("dimensions"))
    unique = _scalar_text(record.get("uniqueId"), "uniqueId")
    return CheckedFields(
        customer_id=required_text(record.get("customerId"), "customerId"),
        meter_api_name=required_text(record.get("meterApiName"), "meterApiName"),
        meter_value=meter_value(record.get("meterValue")),
        meter_time_in_millis=meter_time(record.get("meterTimeInMillis"), now_ms),
        unique_id=unique.strip() or None if unique is not None else None,
        dimensions=dimensions,
    )


def required_text(value: Any, field: str) -> str:
    """The field's text, stripped; `amberflo.<field>.required` when missing or blank."""
    text = _scalar_text(value, field)
    stripped = text.strip() if text is not None else ""
    if not stripped:
        raise InvalidRecord(f"amberflo.{field}.required", f"{field} is missing or empty")
    return stripped


def meter_value(value: Any) -> Decimal:
    """The exact quantity `value` names, or `InvalidRecord` with the meterValue rule it breaks."""
    if value is None:
        raise InvalidRecord("amberflo.meterValue.required", "meterValue is missing")
    text = _scalar_text(value, "meterValue") or ""
    stripped = text.strip()
    if _NOT_FINITE.fullmatch(stripped) or (isinstance(value, Decimal) and not value.is_finite()):
        raise InvalidRecord(
            "amberflo.meterValue.finite", f"meterValue {_quoted(text)} is not a finite number"
        )
    if not _DECIMAL_TEXT.fullmatch(stripped):
        raise InvalidRecord(
            "amberflo.meterValue.number", f"meterValue {_quoted(text)} is not a number"
        )
    quantity = Decimal(stripped)
    if quantity and quantity.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidRecord(
            "amberflo.meterValue.number",
            f"meterValue {_quoted(text)} is not a number the warehouse holds "
            f"(at most {MAX_INTEGER_DIGITS} digits before the decimal point)",
        )
    if _decimal_places(quantity) > MAX_DECIMAL_PLACES:
        raise InvalidRecord(
            "amberflo.meterValue.precision",
            f"meterValue {_quoted(text)} has more than {MAX_DECIMAL_PLACES} decimal places; quantities "
            f"are stored to {MAX_DECIMAL_PLACES}, round it at the source",
        )
    if isinstance(value, float) and _significant_digits(quantity) > FLOAT_EXACT_DIGITS:
        raise InvalidRecord(
            "amberflo.meterValue.precision",
            f"meterValue {_quoted(text)} is a float that only approximates a decimal "
            f"(more than {FLOAT_EXACT_DIGITS} significant digits); pass a Decimal or a str",
        )
    if quantity < 0:
        raise InvalidRecord(
            "amberflo.meterValue.non_negative",
            f"meterValue {_quoted(text)} is negative; send a correction as its own meter",
        )
    return quantity


def meter_time(value: Any, now_ms: int) -> int:
    """Epoch milliseconds from `value`, or `InvalidRecord` with the meterTimeInMillis rule."""
    if value is None:
        raise InvalidRecord("amberflo.meterTimeInMillis.required", "meterTimeInMillis is missing")
    text = _scalar_text(value, "meterTimeInMillis") or ""
    stripped = text.strip()
    ms = int(stripped) if _INTEGER_TEXT.fullmatch(stripped) else None
    if ms is None or not -_INT64_MAX - 1 <= ms <= _INT64_MAX:
        raise InvalidRecord(
            "amberflo.meterTimeInMillis.integer",
            f"meterTimeInMillis {_quoted(text)} is not an integer of epoch milliseconds",
        )
    limit_ms = now_ms + MAX_FUTURE_SKEW_MS
    if MIN_EVENT_MS // 1000 <= ms <= limit_ms // 1000:
        raise InvalidRecord(
            "amberflo.meterTimeInMillis.seconds",
            f"meterTimeInMillis {_quoted(text)} looks like epoch seconds; Amberflo expects milliseconds "
            "(multiply by 1000)",
        )
    if ms < MIN_EVENT_MS:
        raise InvalidRecord(
            "amberflo.meterTimeInMillis.too_old",
            f"meterTimeInMillis {_quoted(text)} is before 2000-01-01",
        )
    if ms > limit_ms:
        raise InvalidRecord(
            "amberflo.meterTimeInMillis.future",
            f"meterTimeInMillis {_quoted(text)} is more than a day after now",
        )
    return ms


def dimension_map(value: Any) -> dict[str, str]:
    """Dimensions as the warehouse stores them: str -> str, null values left out, sorted."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidRecord(
            "amberflo.dimensions.map", "dimensions must be a JSON object of string values"
        )
    if len(value) > MAX_DIMENSIONS:
        raise InvalidRecord(
            "amberflo.dimensions.size",
            f"dimensions has {len(value)} keys, more than the limit of {MAX_DIMENSIONS}",
        )
    entries: dict[str, str] = {}
    for key, raw in value.items():
        if raw is None:
            continue
        if isinstance(raw, dict | list):
            kind = "an object" if isinstance(raw, dict) else "an array"
            raise InvalidRecord(
                "amberflo.dimensions.scalar",
                f"dimension {key[:MAX_DIMENSION_KEY]!r} holds {kind}, expected a string",
            )
        text = _scalar_text(raw, "dimensions") or ""
        if not key or len(key) > MAX_DIMENSION_KEY or len(text) > MAX_DIMENSION_VALUE:
            raise InvalidRecord(
                "amberflo.dimensions.length",
                f"dimension key must be 1..{MAX_DIMENSION_KEY} characters and its value at most "
                f"{MAX_DIMENSION_VALUE} (key {key[:40]!r}, value of {len(text)} characters)",
            )
        entries[key] = text
    return dict(sorted(entries.items()))


def _scalar_text(value: Any, field: str) -> str | None:
    # As the batch path's JSON reader sees a value: text, or the JSON spelling of a scalar.
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "an array"
        raise InvalidRecord(
            f"amberflo.{field}.scalar", f"{field} is {kind}, expected a single value"
        )
    raise InvalidRecord(
        f"amberflo.{field}.scalar", f"{field} is a {type(value).__name__}, expected a single value"
    )


def _decimal_places(quantity: Decimal) -> int:
    # From the digits, not by arithmetic: Decimal arithmetic rounds to the context's precision.
    _sign, digits, exponent = quantity.as_tuple()
    if not isinstance(exponent, int):  # NaN and infinities are rejected before
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


def _significant_digits(quantity: Decimal) -> int:
    return len("".join(map(str, quantity.as_tuple().digits)).strip("0"))


def _quoted(text: str) -> str:
    return f"'{text[:60]}'"
