"""Interval scoping: which keys a run of usage_ingest is responsible for."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from etl.settings import DEFAULT_LATE_DAYS, Settings, SettingsError
from etl.sources.windows import (
    DateWindow,
    InvalidWindow,
    in_window,
    ingest_window,
    key_date_span,
)


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "span"),
    [
        ("ingest/usage/dt=2026-10-01/batch-00.json", (_utc(2026, 10, 1), _utc(2026, 10, 2))),
        ("ingest/amberdata/10-01-2026/5f0c0e9a", (_utc(2026, 10, 1), _utc(2026, 10, 2))),
        ("ingest/exports/2026-10-31/usage.csv", (_utc(2026, 10, 31), _utc(2026, 11, 1))),
        (
            "focus/aws/x/data/BILLING_PERIOD=2026-10/x-00001.csv.gz",
            (_utc(2026, 10, 1), _utc(2026, 11, 1)),
        ),
        ("focus/onprem/dcim/2026-12/focus-2026-12.csv", (_utc(2026, 12, 1), _utc(2027, 1, 1))),
        # the innermost dated folder wins: a day inside a month partition
        ("x/month=2026-10/day=2026-10-07/a.json", (_utc(2026, 10, 7), _utc(2026, 10, 8))),
    ],
)
def test_key_date_span_recognises_partition_folders(
    key: str, span: tuple[datetime, datetime]
) -> None:
    assert key_date_span(key) == span


@pytest.mark.parametrize(
    "key",
    [
        "ingest/manual-upload.ndjson",
        "ingest/2026-10-01.json",  # a dated file name is not a partition folder
        "ingest/dt=2026-02-30/a.json",  # no such day
        "ingest/13-01-2026/a",  # no 13th month
        "ingest/build-2026/a.json",
    ],
)
def test_keys_without_a_valid_date_folder_are_undated(key: str) -> None:
    assert key_date_span(key) is None


def test_in_window_keeps_undated_keys_and_overlapping_dates() -> None:
    day = DateWindow(_utc(2026, 10, 1), _utc(2026, 10, 2))
    assert in_window("ingest/usage/dt=2026-10-01/a.json", day)
    assert in_window("ingest/amberdata/10-01-2026/u", day)
    assert not in_window("ingest/usage/dt=2026-10-02/a.json", day)  # end is exclusive
    assert not in_window("ingest/usage/dt=2026-09-30/a.json", day)
    assert in_window("ingest/loose-file.csv", day)
    assert in_window("focus/x/billing_period=2026-10/f.parquet", day)  # the month overlaps
    assert not in_window("focus/x/billing_period=2026-11/f.parquet", day)
    assert in_window("ingest/usage/dt=1999-01-01/a.json", DateWindow())


def test_backfill_window_is_exactly_the_data_interval() -> None:
    window = ingest_window("backfill", _utc(2026, 9, 3), _utc(2026, 9, 4))
    assert window == DateWindow(_utc(2026, 9, 3), _utc(2026, 9, 4))


def test_scheduled_window_reaches_back_for_late_exports() -> None:
    window = ingest_window("scheduled", _utc(2026, 11, 25), _utc(2026, 11, 26), late_days=3)
    assert window == DateWindow(_utc(2026, 11, 22), _utc(2026, 11, 26))
    assert not in_window("ingest/usage/dt=2026-11-26/a.json", window)  # the next night's
    unbounded_back = ingest_window(
        "scheduled", _utc(2026, 11, 25), _utc(2026, 11, 26), late_days=None
    )
    assert unbounded_back == DateWindow(None, _utc(2026, 11, 26))


def test_manual_run_without_a_range_is_unbounded() -> None:
    assert ingest_window("manual", _utc(2026, 11, 25), _utc(2026, 11, 26)).unbounded
    assert ingest_window("asset_triggered", None, None).unbounded


def test_a_date_range_wins_over_the_interval_and_is_inclusive() -> None:
    window = ingest_window(
        "backfill",
        _utc(2026, 11, 25),
        _utc(2026, 11, 26),
        start_date="2026-09-01",
        end_date="2026-09-03",
    )
    assert window == DateWindow(_utc(2026, 9, 1), _utc(2026, 9, 4))
    one_day = ingest_window("manual", None, None, start_date=date(2026, 9, 5))
    assert one_day == DateWindow(_utc(2026, 9, 5), _utc(2026, 9, 6))
    end_only = ingest_window("manual", None, None, start_date="", end_date="2026-09-05")
    assert end_only == one_day


def test_bad_ranges_say_what_to_do() -> None:
    with pytest.raises(InvalidWindow, match="end_date 2026-09-01 is before start_date 2026-09-03"):
        ingest_window("manual", None, None, start_date="2026-09-03", end_date="2026-09-01")
    with pytest.raises(InvalidWindow, match="start_date 'yesterday' is not a date; use YYYY-MM-DD"):
        ingest_window("manual", None, None, start_date="yesterday")
    with pytest.raises(InvalidWindow, match="has no timezone"):
        ingest_window("backfill", datetime(2026, 9, 1), datetime(2026, 9, 2))  # noqa: DTZ001


def test_late_days_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    def late_days() -> int | None:
        return Settings.from_env("wh.duckdb").late_days

    monkeypatch.delenv("METERHOUSE_LATE_DAYS", raising=False)
    assert late_days() == DEFAULT_LATE_DAYS
    monkeypatch.setenv("METERHOUSE_LATE_DAYS", "7")
    assert late_days() == 7
    monkeypatch.setenv("METERHOUSE_LATE_DAYS", "all")
    assert late_days() is None
    monkeypatch.setenv("METERHOUSE_LATE_DAYS", "-1")
    with pytest.raises(SettingsError, match=r"METERHOUSE_LATE_DAYS='-1': must be a whole number"):
        late_days()


def test_pendulum_bounds_from_airflow_work() -> None:
    import pendulum

    window = ingest_window(
        "scheduled",
        pendulum.datetime(2026, 11, 25, tz="UTC"),
        pendulum.datetime(2026, 11, 26, tz="UTC"),
        late_days=31,
    )
    assert window == DateWindow(_utc(2026, 10, 25), _utc(2026, 11, 26))
    assert not in_window("ingest/usage/dt=2026-09-30/a.json", window)
    assert in_window("ingest/usage/dt=2026-10-25/a.json", window)
