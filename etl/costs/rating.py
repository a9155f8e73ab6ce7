"""Rating in the warehouse: meter events -> one rated event each, priced by the current rate card,
in DuckDB SQL, one partition at a time.

A partition is one meter's events of one month (every event of the month when the meter has
monthly tiers, else the rebuilt days), split into buckets of customers when it is large: tiers
accumulate per customer, rule and period (a day or a month), so a partition holds every event
its tiers need, and memory is bounded by a partition, not by the month.

Money never passes through float or DuckDB's half-away-from-zero ROUND: costs are computed as
integers of 1e-12 and rounded half-even to 12 places once per event (sql/rating_macros.sql), the
same numbers Python's `decimal` gives (etl.costs.tiers; tests/unit/costs/test_rating_differential.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from etl.costs.days import next_month
from etl.costs.sqlfiles import sql_statements, sql_text

log = logging.getLogger("meterhouse.rating")

DEFAULT_PARTITION_EVENTS = 2_000_000
"""Events one partition reads at most (more: the meter's month is split by customer)."""


@dataclass(frozen=True)
class RatingPartition:
    """One meter's month, or a bucket of its customers when the month is large."""

    meter_name: str
    month: date
    whole_month: bool
    events: int
    buckets: int = 1
    bucket: int = 0


def select_days(con: Any, days: Sequence[date]) -> None:
    """Name the days being rebuilt (temp tables rollup_days and rollup_months)."""
    create_days, create_months = sql_statements("rollup_days")
    con.execute(create_days, [list(days)])
    con.execute(create_months)


def prepare_rating(con: Any) -> None:
    """Create the money macros and the current card's rule and adjustment lists (temp)."""
    for statement in sql_statements("rating_macros") + sql_statements("rating_card"):
        con.execute(statement)


def rating_partitions(
    con: Any, max_events: int = DEFAULT_PARTITION_EVENTS
) -> Iterator[RatingPartition]:
    """The partitions that rate every event of the selected days (select_days)."""
    for meter, month, whole_month, events in con.execute(sql_text("rating_partitions")).fetchall():
        buckets = max(1, math.ceil(events / max_events))
        for bucket in range(buckets):
            yield RatingPartition(meter, month, bool(whole_month), int(events), buckets, bucket)


def rate_partition(con: Any, partition: RatingPartition, version: str | None) -> int:
    """Rate one partition into the temp table `rated_partition` (its events of the selected
    days, with their event columns and `RatedEvent` columns) and append those to rated_events;
    returns how many there are.

    An empty partition appends nothing: DuckDB 1.5.5 hides a large append made earlier in the
    transaction from this connection after COMMIT when an INSERT of zero rows read from a
    temporary table follows into the same table (see etl.warehouse.dedup.resolve_duplicates)."""
    con.execute(
        sql_text("rate_partition"),
        {
            "meter": partition.meter_name,
            "month": partition.month,
            "next_month": next_month(partition.month),
            "whole_month": partition.whole_month,
            "buckets": partition.buckets,
            "bucket": partition.bucket,
            "version": version,
        },
    )
    rows = int(con.execute(sql_text("rated_partition_rows")).fetchone()[0])
    if rows:
        con.execute(sql_text("insert_rated_events"))
    return rows
