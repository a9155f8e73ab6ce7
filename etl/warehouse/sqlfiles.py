"""The warehouse's static SQL: `sql/<name>.sql` beside this package, read once at import."""

from __future__ import annotations

import re
from importlib.resources import files

_FOLDER = files("etl.warehouse").joinpath("sql")


def sql_text(name: str) -> str:
    """The statement in `sql/<name>.sql`."""
    return _FOLDER.joinpath(f"{name}.sql").read_text()


def sql_statements(name: str) -> tuple[str, ...]:
    """The statements in `sql/<name>.sql`, each ended by a `;` at the end of a line."""
    parts = re.split(r";[ \t]*$", sql_text(name), flags=re.MULTILINE)
    return tuple(part.strip() for part in parts if part.strip())
