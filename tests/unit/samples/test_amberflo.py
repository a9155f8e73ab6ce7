"""Unit tests for the deterministic Amberflo sample-export generator."""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import json
import re
from collections import Counter
from typing import Any

import pytest

from etl.samples.amberflo import (
    CSV_CORE_COLUMNS,
    DIMENSION_KEYS,
    METER_UNITS,
    GeneratedSummary,
    generate_amberflo_exports,
    summarize_exports,
)

START = datetime.date(2024, 2, 27)  # crosses a month end and a leap day
DAYS = 30
CUSTOMERS = 300
EVENTS_PER_CUSTOMER_DAY = 8
ORIGINALS = DAYS * CUSTOMERS * EVENTS_PER_CUSTOMER_DAY
DAY_MS = 86_400_000

Exports = list[tuple[str, bytes]]

USAGE_KEY = re.compile(
    r"^ingest/usage/dt=(\d{4}-\d{2}-\d{2})/batch-\d{2}\.(json|ndjson|csv)(\.gz)?$"
)
AMBERDATA_KEY = re.compile(
    r"^ingest/amberdata/(\d{2})-(\d{2})-(\d{4})/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


@pytest.fixture(scope="module")
def month() -> Exports:
    """A default-sized month (~72k records); generated once for the whole module."""
    return generate_amberflo_exports(start=START)


@pytest.fixture(scope="module")
def month_records(month: Exports) -> list[tuple[int, str, dict[str, Any]]]:
    """Every record of the month as (file index, key, record), decoded once."""
    return _all_records(month)


def _unpack(payload: bytes) -> str:
    return (gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload).decode()


def _file_day(key: str) -> datetime.date:
    if usage := USAGE_KEY.match(key):
        return datetime.date.fromisoformat(usage.group(1))
    amber = AMBERDATA_KEY.match(key)
    assert amber, f"unexpected key layout: {key}"
    month_, day, year = (int(part) for part in amber.groups())
    return datetime.date(year, month_, day)


def _records(key: str, payload: bytes) -> list[dict[str, Any]]:
    """Decode one file into Amberflo records, independently of the generator's own reader."""
    text = _unpack(payload)
    if key.removesuffix(".gz").endswith(".csv"):
        records = []
        for row in csv.DictReader(io.StringIO(text)):
            record: dict[str, Any] = {
                "customerId": row["customerId"],
                "meterApiName": row["meterApiName"],
                "meterValue": float(row["meterValue"]),
                "meterTimeInMillis": int(row["meterTimeInMillis"]),
                "dimensions": {
                    column: value
                    for column, value in row.items()
                    if column not in CSV_CORE_COLUMNS and value
                },
            }
            if row["uniqueId"]:
                record["uniqueId"] = row["uniqueId"]
            records.append(record)
        return records
    if text.lstrip().startswith("["):
        parsed: list[dict[str, Any]] = json.loads(text)
        return parsed
    return [json.loads(line) for line in text.splitlines()]


def _all_records(exports: Exports) -> list[tuple[int, str, dict[str, Any]]]:
    return [
        (index, key, record)
        for index, (key, payload) in enumerate(exports)
        for record in _records(key, payload)
    ]


def _epoch_ms(day: datetime.date) -> int:
    return (
        int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp()) * 1000
    )


def test_same_arguments_give_byte_identical_output() -> None:
    first = generate_amberflo_exports(start=START, days=3, customers=40, seed=11)
    second = generate_amberflo_exports(start=START, days=3, customers=40, seed=11)
    assert first == second


def test_default_month_is_reproducible(month: Exports) -> None:
    assert generate_amberflo_exports(start=START) == month


def test_different_seed_gives_different_output() -> None:
    first = generate_amberflo_exports(start=START, days=3, customers=40, seed=11)
    second = generate_amberflo_exports(start=START, days=3, customers=40, seed=12)
    assert [payload for _, payload in first] != [payload for _, payload in second]


def test_gzip_headers_carry_no_timestamp(month: Exports) -> None:
    gzipped = [payload for _, payload in month if payload[:2] == b"\x1f\x8b"]
    assert gzipped
    assert all(payload[4:8] == b"\x00\x00\x00\x00" for payload in gzipped)


def test_every_shape_is_present(month: Exports) -> None:
    shapes: Counter[str] = Counter()
    for key, payload in month:
        gzipped = payload[:2] == b"\x1f\x8b"
        if key.endswith(".gz"):
            assert gzipped, f"{key} has a .gz suffix but no gzip magic"
        if usage := USAGE_KEY.match(key):
            assert gzipped == bool(usage.group(3)), key
            shapes[usage.group(2) + (".gz" if gzipped else "")] += 1
            continue
        assert AMBERDATA_KEY.match(key), f"unexpected key layout: {key}"
        text = _unpack(payload)
        # Extension-less: only the content says what it is.
        content = "json" if text.startswith("[") else "ndjson"
        if content == "ndjson":
            json.loads(text.splitlines()[0])
        shapes["amberdata-" + content + (".gz" if gzipped else "")] += 1

    assert set(shapes) == {
        "json",
        "ndjson",
        "csv",
        "json.gz",
        "ndjson.gz",
        "csv.gz",
        "amberdata-json",
        "amberdata-ndjson",
        "amberdata-json.gz",
        "amberdata-ndjson.gz",
    }


def test_several_files_every_day_with_unique_keys(month: Exports) -> None:
    keys = [key for key, _ in month]
    assert len(set(keys)) == len(keys)
    files_per_day = Counter(_file_day(key) for key in keys)
    assert set(files_per_day) == {START + datetime.timedelta(days=d) for d in range(DAYS)}
    assert all(5 <= count <= 8 for count in files_per_day.values())


def test_summary_counts_match_the_files(
    month: Exports, month_records: list[tuple[int, str, dict[str, Any]]]
) -> None:
    summary = summarize_exports(month)
    records = month_records
    ids = [record.get("uniqueId") for _, _, record in records]
    idless = ids.count(None)

    assert summary == GeneratedSummary(
        files=len(month),
        records=len(records),
        distinct_event_ids=len({i for i in ids if i is not None}) + idless,
        duplicate_records=len(records) - ORIGINALS,
    )
    assert summary.distinct_event_ids == ORIGINALS
    assert summary.records == summary.distinct_event_ids + summary.duplicate_records


def test_duplicate_rate_is_about_one_percent(month: Exports) -> None:
    summary = summarize_exports(month)
    assert 0.005 <= summary.duplicate_records / summary.records <= 0.02


def test_duplicates_are_identical_retries_in_a_later_file(
    month: Exports, month_records: list[tuple[int, str, dict[str, Any]]]
) -> None:
    first_seen: dict[str, tuple[int, dict[str, Any]]] = {}
    retries = 0
    for index, key, record in month_records:
        unique_id = record.get("uniqueId")
        if unique_id is None:
            continue
        if unique_id not in first_seen:
            first_seen[unique_id] = (index, record)
            continue
        retries += 1
        original_index, original = first_seen[unique_id]
        assert original_index < index, f"{unique_id} repeated inside {key}"
        assert record == original
        lag = _file_day(key) - _file_day(month[original_index][0])
        assert lag in (datetime.timedelta(0), datetime.timedelta(days=1))
    assert retries == summarize_exports(month).duplicate_records


def test_some_records_have_no_unique_id(
    month_records: list[tuple[int, str, dict[str, Any]]],
) -> None:
    records = [record for _, _, record in month_records]
    idless = [record for record in records if "uniqueId" not in record]
    assert 0.002 * len(records) <= len(idless) <= 0.01 * len(records)
    # Id-less records fall back to a content hash, so they must differ in content.
    contents = {json.dumps(record, sort_keys=True) for record in idless}
    assert len(contents) == len(idless)


def test_event_times_lie_in_their_file_day_and_in_range(
    month_records: list[tuple[int, str, dict[str, Any]]],
) -> None:
    seen: set[str] = set()
    for _, key, record in month_records:
        day_start = _epoch_ms(_file_day(key))
        time_ms = record["meterTimeInMillis"]
        assert isinstance(time_ms, int)
        assert _epoch_ms(START) <= time_ms < _epoch_ms(START) + DAYS * DAY_MS
        unique_id = record.get("uniqueId")
        if unique_id in seen:
            # A retry keeps its original time, which may be the previous day.
            assert day_start - DAY_MS <= time_ms < day_start + DAY_MS, key
        else:
            assert day_start <= time_ms < day_start + DAY_MS, key
        if unique_id is not None:
            seen.add(unique_id)


def test_csv_header_has_core_and_dimension_columns(month: Exports) -> None:
    csv_files = [(k, p) for k, p in month if k.removesuffix(".gz").endswith(".csv")]
    assert csv_files
    for key, payload in csv_files:
        header = next(csv.reader(io.StringIO(_unpack(payload))))
        assert tuple(header[: len(CSV_CORE_COLUMNS)]) == CSV_CORE_COLUMNS, key
        dimension_columns = header[len(CSV_CORE_COLUMNS) :]
        assert {"datacenter", "team"} <= set(dimension_columns), key
        assert set(dimension_columns) <= set(DIMENSION_KEYS), key


def test_records_are_plausible(month_records: list[tuple[int, str, dict[str, Any]]]) -> None:
    records = [record for _, _, record in month_records]
    assert set(METER_UNITS) <= {record["meterApiName"] for record in records}
    customers = {record["customerId"] for record in records}
    assert len(customers) == CUSTOMERS
    assert all(re.fullmatch(r"cust-\d{4}", customer) for customer in customers)
    for record in records:
        value = record["meterValue"]
        assert isinstance(value, int | float) and value >= 0
        assert round(value, 3) == value
        dimensions = record["dimensions"]
        assert {"datacenter", "team"} <= set(dimensions) <= set(DIMENSION_KEYS)
        assert all(isinstance(v, str) and v for v in dimensions.values())
        assert ("gpu_model" in dimensions) == (record["meterApiName"] == "gpu_hours")


def test_tiny_run_still_works() -> None:
    exports = generate_amberflo_exports(start=START, days=1, customers=1, events_per_customer_day=1)
    assert summarize_exports(exports) == GeneratedSummary(
        files=1, records=1, distinct_event_ids=1, duplicate_records=0
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"days": 0}, "days must be >= 1, got 0"),
        ({"customers": -1}, "customers must be >= 1, got -1"),
        ({"events_per_customer_day": 0}, "events_per_customer_day must be >= 1, got 0"),
    ],
)
def test_rejects_non_positive_sizes(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_amberflo_exports(start=START, **arguments)


def test_rejects_a_datetime_start() -> None:
    moment = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(ValueError, match="start must be a datetime.date"):
        generate_amberflo_exports(start=moment)
