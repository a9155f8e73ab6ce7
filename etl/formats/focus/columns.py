"""The FOCUS columns as the parser sees them: canonical names, types, and header matching."""

from __future__ import annotations

from typing import Any, Final

from contracts.focus import (
    FOCUS_DATETIME,
    FOCUS_DECIMAL,
    KEY_VALUE,
    FocusCostAndUsage13,
    column_dtypes,
)

# pandera turns attribute access on a model into the column name; typed Any because mypy only sees
# the dtype annotation.
F: Any = FocusCostAndUsage13

ALL_DTYPES: Final = column_dtypes("1.3")
"""Every FOCUS column (1.3, a superset of 1.0-1.2) and its polars type."""

DECIMAL_COLUMNS: Final = frozenset(c for c, d in ALL_DTYPES.items() if d == FOCUS_DECIMAL)
"""Money, unit prices and quantities: Decimal(38, 18)."""
DATETIME_COLUMNS: Final = frozenset(c for c, d in ALL_DTYPES.items() if d == FOCUS_DATETIME)
"""Timestamps (UTC)."""
KEY_VALUE_COLUMNS: Final = frozenset(c for c, d in ALL_DTYPES.items() if d == KEY_VALUE)
"""Key-value JSON (Tags): lists of key/value structs."""
JSON_TEXT_COLUMNS: Final = frozenset(
    {F.SkuPriceDetails, F.AllocatedMethodDetails, F.ContractApplied}
)
"""JSON columns that are not plain key-value maps: kept as (validated) JSON text."""
CANONICAL_BY_LOWER: Final = {name.lower(): name for name in ALL_DTYPES}
"""Lower-cased column name -> canonical FOCUS PascalCase."""


def clean_header(name: str) -> str:
    """A header cell without byte-order mark, quotes and surrounding blanks."""
    return name.replace("\ufeff", "").strip().strip('"').strip()


def canonical_name(name: str) -> str | None:
    """The canonical FOCUS column a header names (case-insensitively), or None."""
    return CANONICAL_BY_LOWER.get(clean_header(name).lower())
