"""The warehouse's static SQL: `sql/<name>.sql` beside this package, read once."""

from __future__ import annotations

from etl.sqlfiles import SqlFolder

_SQL = SqlFolder("etl.warehouse")
sql_text = _SQL.text
sql_statements = _SQL.statements
