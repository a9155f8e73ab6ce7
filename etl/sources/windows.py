"""Which exports a run is responsible for: date partitions in object keys vs a run's time window.

Exporters partition their keys by day or by month, and the folder names that date:
`ingest/usage/dt=2026-10-01/...` (Hive style), Amberflo's `ingest/amberdata/10-01-2026/<uuid>`,
FOCUS billing periods `.../BILLING_PERIOD=2026-10/...` or a bare `.../2026-10/...`. A run of
`usage_ingest` covers a window of time; a key belongs to the run when the day or month its path
names overlaps the window. Keys whose path carries no date are always eligible: the ingest ledger
alone decides whether they are new or changed.

Pure functions, no I/O; the orchestrator passes the run's interval or the user's date range in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from etl.errors import TerminalError
from etl.settings import DEFAULT_LATE_DAYS

__all__ = [
    "DEFAULT_LATE_DAYS",
    "DateWindow",
    "InvalidWindow",
    "in_window",
    "ingest_window",
    "key_date_span",
]

# How far before its interval a scheduled run still picks up late (or corrected) exports.

# One path segment, optionally `name=`: YYYY-MM-DD, MM-DD-YYYY (Amberflo) or YYYY-MM (a month).
_ISO_DAY = re.compile(r"^(?:[A-Za-z_][\w.-]*=)?(\d{4})-(\d{2})-(\d{2})$")
_US_DAY = re.compile(r"^(?:[A-Za-z_][\w.-]*=)?(\d{2})-(\d{2})-(\d{4})$")
_MONTH = re.compile(r"^(?:[A-Za-z_][\w.-]*=)?(\d{4})-(\d{2})$")


class InvalidWindow(TerminalError):
    """A date range that cannot be a run's scope (end before start, bad date text)."""


@dataclass(frozen=True)
class DateWindow:
    """A half-open UTC time range `[start, end)`; `None` on a side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None

    def overlaps(self, span_start: datetime, span_end: datetime) -> bool:
        """True when `[span_start, span_end)` and this window share any instant."""
        after_start = self.start is None or span_end > self.start
        before_end = self.end is None or span_start < self.end
        return after_start and before_end

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "-inf"
        end = self.end.isoformat() if self.end else "+inf"
        return f"[{start}, {end})"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _day(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def key_date_span(key: str) -> tuple[datetime, datetime] | None:
    """The UTC range `[start, end)` a key's innermost dated folder names, else `None`.

    Only folders count, never the file name: `dt=2026-10-01/batch-00.json` is dated, a file
    called `2026-10-01.json` at the top of the prefix is not (exporters name files freely).
    """
    folders = key.split("/")[:-1]
    for segment in reversed(folders):
        if m := _ISO_DAY.match(segment):
            day = _day(*m.groups())
        elif m := _US_DAY.match(segment):
            month, dom, year = m.groups()
            day = _day(year, month, dom)
        elif m := _MONTH.match(segment):
            first = _day(m.group(1), m.group(2), "01")
            if first is None:
                continue
            following = _day(
                str(first.year + first.month // 12), f"{first.month % 12 + 1:02d}", "01"
            )
            assert following is not None
            return _midnight(first), _midnight(following)
        else:
            continue
        if day is not None:
            return _midnight(day), _midnight(day + timedelta(days=1))
    return None


def in_window(key: str, window: DateWindow) -> bool:
    """True when the key is undated or its dated folder overlaps the window."""
    if window.unbounded:
        return True
    span = key_date_span(key)
    return span is None or window.overlaps(*span)


def _parse_day(raw: str | date | None, name: str) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError as exc:
        raise InvalidWindow(f"{name} {raw!r} is not a date; use YYYY-MM-DD") from exc


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidWindow(f"interval bound {moment.isoformat()} has no timezone; pass UTC")
    m = moment.astimezone(UTC)
    # A plain datetime: pendulum's DateTime (what Airflow passes) drops its tzinfo when a
    # stdlib timedelta is subtracted, and naive vs aware comparisons then fail.
    return datetime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=UTC)


def ingest_window(
    run_type: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    *,
    start_date: str | date | None = None,
    end_date: str | date | None = None,
    late_days: int | None = DEFAULT_LATE_DAYS,
) -> DateWindow:
    """The window of exports a `usage_ingest` run loads, from how it was started.

    - A date range (`start_date`..`end_date`, both inclusive days; one alone means that one
      day) wins over everything: the manual "ingest/reprocess these days" form.
    - `backfill`: exactly the run's data interval, so a backfill loads its intervals' exports
      and nothing else.
    - `scheduled`: the interval plus the `late_days` before it, so exports that arrived late or
      were corrected since their own night are picked up (`late_days=None`: no lower bound).
    - anything else (a manual trigger without a range, an asset event): no bound, everything
      the ledger has not loaded.
    """
    first, last = _parse_day(start_date, "start_date"), _parse_day(end_date, "end_date")
    if first is not None or last is not None:
        first = first or last
        last = last or first
        assert first is not None and last is not None
        if last < first:
            raise InvalidWindow(
                f"end_date {last.isoformat()} is before start_date {first.isoformat()}; "
                "swap them or leave end_date empty for a single day"
            )
        return DateWindow(_midnight(first), _midnight(last + timedelta(days=1)))
    start, end = _utc(interval_start), _utc(interval_end)
    if run_type == "backfill":
        return DateWindow(start, end)
    if run_type == "scheduled":
        if late_days is None or start is None:
            return DateWindow(None, end)
        return DateWindow(start - timedelta(days=late_days), end)
    return DateWindow()
