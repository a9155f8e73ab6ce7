"""FOCUS cost-and-usage exports (CSV or Parquet, versions 1.0-1.3): one module per step.

columns (names and types) -> header (is it FOCUS, which version) -> read (everything as text)
-> cast (typed columns, repairs) -> rejects (cast and contract failures) -> events (meter
events, content ids) -> parse (the entry point, `parse_focus`) -> parser (the registry's view).
"""

from __future__ import annotations

from typing import Final

from etl.formats.focus.events import RowKeyCounts
from etl.formats.focus.header import detect_focus_version, focus_delivery_key, is_focus_header
from etl.formats.focus.parse import FocusParseResult, parse_focus
from etl.formats.focus.parser import FocusParser

__all__: Final[list[str]] = [
    "FocusParseResult",
    "FocusParser",
    "RowKeyCounts",
    "detect_focus_version",
    "focus_delivery_key",
    "is_focus_header",
    "parse_focus",
]
