"""How a warehouse table is published to the Parquet lake (what etl.lake reads to publish it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake: its DuckDB schema, file layout and sort order.

    Files live under `<lake>/<name>/`: with a `partition`, one hive folder per value
    (`<partition>=<value>/part-0.parquet`); without, part files (`part-*.parquet`).
    """

    name: str
    ddl: str
    """`CREATE TABLE IF NOT EXISTS <name> (...)`: the table, and its empty form in views.sql."""
    order: str | None
    """The ORDER BY of its files; None keeps rows in the order they were loaded (for the large
    tables, where sorting would be an external sort of every row published)."""
    partition: str | None = None
    """The hive partition column of its folders, or None for part files."""
    partition_key: str | None = None
    """SQL expression of a row's partition value (default: the `partition` column itself, which
    is then left out of the files: the folder name holds it)."""
    written_at: str | None = None
    """The column stamping when each row was written: the table is published by write-time
    ranges, one part file per range, instead of rewritten whole."""
    append_only: bool = True
    """With `written_at`: rows are only ever added (never changed in place), so rows written
    since the last publish become one more part file."""
    empty_when_unpublished: bool = True
    """views.sql defines the table empty while the lake holds none of its files."""

    @property
    def columns(self) -> list[str]:
        """The column names views.sql selects, in DDL order (table constraints left out)."""
        body = self.ddl[self.ddl.index("(") + 1 : self.ddl.rindex(")")]
        items, depth, start = [], 0, 0
        for at, char in enumerate(body):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == "," and depth == 0:
                items.append(body[start:at])
                start = at + 1
        items.append(body[start:])
        constraints = ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT")
        return [
            item.split()[0]
            for item in items
            if item.strip() and item.split()[0].upper() not in constraints
        ]
