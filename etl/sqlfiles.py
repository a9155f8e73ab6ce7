"""Static SQL kept in `.sql` files beside the package that runs it (`<package>/sql/<name>.sql`)."""

from __future__ import annotations

import functools
import re
from importlib.resources import files

_FRAGMENT = re.compile(r"\{\{(\w+)\}\}")
_STATEMENT_END = re.compile(r";[ \t]*$", flags=re.MULTILINE)


class SqlFolder:
    """The `sql/` folder of one package, each file read once.

    A `{{name}}` in a file is replaced by `sql/<name>.sql`: fixed SQL shared by several
    statements, never a value (values are always bound as parameters).
    """

    def __init__(self, package: str) -> None:
        self._folder = files(package).joinpath("sql")
        self.text = functools.cache(self._text)

    def _text(self, name: str) -> str:
        text = self._folder.joinpath(f"{name}.sql").read_text().strip()
        return _FRAGMENT.sub(lambda m: self.text(m.group(1)), text)

    def statements(self, name: str) -> tuple[str, ...]:
        """The statements in `sql/<name>.sql`, each ended by a `;` at the end of a line."""
        return tuple(part.strip() for part in _STATEMENT_END.split(self.text(name)) if part.strip())
