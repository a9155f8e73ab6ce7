"""The costs package's static SQL: `sql/<name>.sql` beside these modules, read once."""

from __future__ import annotations

from etl.sqlfiles import SqlFolder

_SQL = SqlFolder("etl.costs")
sql_text = _SQL.text
sql_statements = _SQL.statements
