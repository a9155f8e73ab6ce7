"""The costs package's static SQL: `sql/<name>.sql` beside these modules."""

from __future__ import annotations

import functools
import re
from importlib.resources import files

_FOLDER = files("etl.costs").joinpath("sql")


@functools.cache
def sql_text(name: str) -> str:
    """The SQL in `sql/<name>.sql`, each `{{fragment}}` in it replaced by `sql/<fragment>.sql`
    (fixed SQL shared by several statements, never a value)."""
    text = _FOLDER.joinpath(f"{name}.sql").read_text().strip()
    return re.sub(r"\{\{(\w+)\}\}", lambda m: sql_text(m.group(1)), text)


def sql_statements(name: str) -> tuple[str, ...]:
    """The statements in `sql/<name>.sql`, each ended by a `;` at the end of a line."""
    parts = re.split(r";[ \t]*$", sql_text(name), flags=re.MULTILINE)
    return tuple(part.strip() for part in parts if part.strip())
