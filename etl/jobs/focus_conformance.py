"""FOCUS conformance findings and reconciliation, read for `meterhouse status` and the UI page.

Findings are rows loaded with a FOCUS rule broken in a column that neither places nor prices
them (table `focus_conformance`); reconciliation holds each FOCUS file's totals from its own text
beside what was loaded (`focus_reconciliation`). Both are read from the warehouse file (the
status command) or from the published lake (the UI page), never written here.
"""

from __future__ import annotations

from typing import Any

from etl.settings import Settings
from etl.sqlfiles import SqlFolder
from etl.warehouse import Warehouse

_SQL = SqlFolder("etl.jobs")


def _records(names: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def findings_by_rule(settings: Settings, *, published: bool = False) -> list[dict[str, Any]]:
    """Conformance findings per rule and column: `findings` rows, `files`, an `example_value`.

    `published` reads the Parquet lake (pages) instead of the DuckDB file (the CLI)."""
    wh = Warehouse.of(settings, create=False)
    query = wh.query_published if published else wh.query
    return _records(*query(_SQL.text("focus_findings_by_rule")))


def reconciliation(
    settings: Settings, *, limit: int = 50, published: bool = False
) -> list[dict[str, Any]]:
    """The newest FOCUS files' reconciliation rows (source, rejected and loaded totals)."""
    wh = Warehouse.of(settings, create=False)
    query = wh.query_published if published else wh.query
    return _records(*query(_SQL.text("focus_reconciliation"), [limit]))
