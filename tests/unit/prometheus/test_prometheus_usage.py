"""Counter and gauge math through a real DuckDB warehouse: resets, gaps, interval splits,
objects in any order and split anywhere, replays."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from etl.warehouse import Warehouse
from tests.prometheus_usage import HOUR, T0, line, load_object, mapping_file, ndjson, usage

A = {"__name__": "requests_total", "namespace": "team-a", "service": "web", "pod": "p1"}
MEM = {"__name__": "memory_bytes", "namespace": "team-b", "pod": "p2"}
CORES = {"__name__": "cores", "namespace": "team-c"}
GIB = 1024**3
MIN = 60_000


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    return mapping_file(tmp_path)


COUNTER = [(T0, 10.0), (T0 + 1000, 15.0), (T0 + HOUR, 20.0), (T0 + HOUR + 1000, 3.0),
           (T0 + HOUR + 2000, 7.0)]  # fmt: skip
COUNTER_USAGE = {
    ("team-a", "api_requests", T0): Decimal(5),
    ("team-a", "api_requests", T0 + HOUR): Decimal(12),  # 5, then a restart: 3, then 4
}


def test_counter_increase_per_interval_with_a_reset(warehouse: Warehouse, mapping: Path) -> None:
    result = load_object(warehouse, "s3://b/p/1.ndjson", ndjson(line(A, COUNTER)), mapping)
    assert (result.rows_in, result.events_loaded, result.duplicates) == (5, 5, 0)
    assert usage(warehouse) == COUNTER_USAGE


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_objects_in_any_order_and_split_anywhere(
    warehouse: Warehouse, mapping: Path, order: tuple[int, ...]
) -> None:
    parts = [COUNTER[:2], COUNTER[2:3], COUNTER[3:]]
    for i in order:
        load_object(warehouse, f"s3://b/p/{i}.ndjson", ndjson(line(A, parts[i])), mapping)
    assert usage(warehouse) == COUNTER_USAGE


def test_replayed_and_overlapping_objects_change_nothing(
    warehouse: Warehouse, mapping: Path
) -> None:
    load_object(warehouse, "s3://b/p/1.ndjson", ndjson(line(A, COUNTER)), mapping)
    again = load_object(warehouse, "s3://b/p/2.ndjson", ndjson(line(A, COUNTER[1:4])), mapping)
    assert (again.events_loaded, again.duplicates) == (0, 3)
    load_object(warehouse, "s3://b/p/1.ndjson", ndjson(line(A, COUNTER)), mapping)
    assert usage(warehouse) == COUNTER_USAGE
    _, rows = warehouse.query("SELECT count(*) FROM meter_events")
    assert rows == [(2,)]


def test_gauge_integral_split_at_the_interval_boundary(warehouse: Warehouse, mapping: Path) -> None:
    held = [(50, 2), (55, 2), (58, 2), (62, 4), (66, 4), (70, 0)]  # minute, GiB
    samples = [(T0 + m * MIN, float(g * GIB)) for m, g in held]
    load_object(warehouse, "s3://b/p/g.ndjson", ndjson(line(MEM, samples)), mapping)
    assert usage(warehouse) == {
        ("team-b", "memory", T0): Decimal("0.333333333333"),  # 2 GiB x 10 min, rounded once
        ("team-b", "memory", T0 + HOUR): Decimal("0.6"),  # 2 GiB x 2 min + 4 GiB x 8 min
    }


def test_gauge_hold_ends_at_max_gap_and_the_last_sample_holds_nothing(
    warehouse: Warehouse, mapping: Path
) -> None:
    samples = [(T0 + 50 * MIN, 2.0 * GIB), (T0 + 56 * MIN, 2.0 * GIB)]  # 6 min > max_gap 5m
    load_object(warehouse, "s3://b/p/g.ndjson", ndjson(line(MEM, samples)), mapping)
    assert usage(warehouse) == {}


def test_gauge_gap_longer_than_max_gap_counts_nothing(warehouse: Warehouse, mapping: Path) -> None:
    samples = [(T0, 2.0), (T0 + 5000, 2.0), (T0 + 60_000, 3.0), (T0 + 65_000, 3.0)]
    load_object(warehouse, "s3://b/p/c.ndjson", ndjson(line(CORES, samples)), mapping)
    assert usage(warehouse) == {("team-c", "cpu", T0): Decimal(25)}  # 2 x 5 s + 3 x 5 s


def test_late_sample_before_an_interval_changes_its_gauge_hold(
    warehouse: Warehouse, mapping: Path
) -> None:
    load_object(
        warehouse, "s3://b/p/2.ndjson", ndjson(line(CORES, [(T0 + HOUR + 4000, 1.0)])), mapping
    )
    assert usage(warehouse) == {}
    load_object(
        warehouse, "s3://b/p/1.ndjson", ndjson(line(CORES, [(T0 + HOUR - 4000, 5.0)])), mapping
    )
    # 5 cores held 4 s before the boundary and 4 s after it
    assert usage(warehouse) == {
        ("team-c", "cpu", T0): Decimal(20),
        ("team-c", "cpu", T0 + HOUR): Decimal(20),
    }


def test_float_values_become_the_decimal_of_their_shortest_text(
    warehouse: Warehouse, mapping: Path
) -> None:
    values = [0.1, 0.1 + 0.1, 0.1 + 0.1 + 0.1, 1234567.891]  # 0.30000000000000004
    samples = [(T0 + i * 1000, v) for i, v in enumerate(values)]
    load_object(warehouse, "s3://b/p/f.ndjson", ndjson(line(A, samples)), mapping)
    assert usage(warehouse) == {("team-a", "api_requests", T0): Decimal("1234567.791")}


def test_unmapped_metrics_are_counted_and_missing_customers_rejected(
    warehouse: Warehouse, mapping: Path
) -> None:
    data = ndjson(
        line({"__name__": "go_goroutines", "namespace": "x"}, [(T0, 1.0), (T0 + 1000, 2.0)]),
        line({"__name__": "requests_total", "service": "web"}, [(T0, 1.0), (T0 + 1000, 4.0)]),
        line(A, COUNTER[:2]),
    )
    result = load_object(warehouse, "s3://b/p/u.ndjson", data, mapping)
    assert (result.rows_in, result.events_loaded, result.rejected) == (4, 2, 2)
    _, unmapped = warehouse.query("SELECT metric, samples FROM prometheus_unmapped")
    assert unmapped == [("go_goroutines", 2)]
    _, rejects = warehouse.query("SELECT rule, column_name FROM rejected_rows")
    assert rejects == [("prometheus.customer.missing", "namespace")]
    assert usage(warehouse) == {("team-a", "api_requests", T0): Decimal(5)}


def test_dimensions_keep_only_the_allow_list(warehouse: Warehouse, mapping: Path) -> None:
    load_object(warehouse, "s3://b/p/d.ndjson", ndjson(line(A, COUNTER[:2])), mapping)
    _, rows = warehouse.query("SELECT dimensions, unit, event_id FROM meter_events")
    dims, unit, event_id = rows[0]
    assert dict(dims) == {"service": "web"} and unit == "requests"
    assert event_id.startswith("prometheus:") and event_id.endswith(f":{T0}")


def test_values_beyond_a_quantity_are_rejected(warehouse: Warehouse, mapping: Path) -> None:
    data = ndjson(line(A, [(T0, 1.0), (T0 + 1000, 1e30), (T0 + 2000, 4.0)]))
    result = load_object(warehouse, "s3://b/p/r.ndjson", data, mapping)
    assert (result.rows_in, result.events_loaded, result.rejected) == (3, 2, 1)
    _, rejects = warehouse.query("SELECT rule, column_name FROM rejected_rows")
    assert rejects == [("prometheus.value.range", "value")]
    assert usage(warehouse) == {("team-a", "api_requests", T0): Decimal(3)}


def _series_samples(seed: int) -> dict[str, list[tuple[int, float]]]:
    rng = random.Random(seed)
    counter, gauge, value = [], [], 0.0
    ts = T0 - 30 * MIN
    for _ in range(120):
        ts += rng.choice([1000, 15_000, 60_000, 4 * MIN, 7 * MIN])
        value = 0.0 if rng.random() < 0.05 else value + rng.choice([0.0, 1.0, 2.5, 1e6 + 0.125])
        counter.append((ts, value))
        gauge.append((ts, float(rng.choice([0, 1, 2, 3]) * GIB) + rng.choice([0.0, 0.5])))
    return {"counter": counter, "gauge": gauge}


@pytest.mark.parametrize("seed", range(6))
def test_late_replayed_and_out_of_order_objects_give_the_usage_of_one_load(
    tmp_path: Path, mapping: Path, seed: int
) -> None:
    """Objects cut anywhere, overlapping, resent and loaded in a shuffled order: the usage
    equals that of every sample loaded at once (counter resets, gauge gaps, hour splits)."""
    series = _series_samples(seed)
    whole = Warehouse(tmp_path / "whole.duckdb", tmp_path / "lake1")
    load_object(
        whole,
        "s3://b/p/all.ndjson",
        ndjson(line(A, series["counter"]), line(MEM, series["gauge"])),
        mapping,
    )
    expected = usage(whole)
    assert expected  # the case has usage to get right
    rng = random.Random(seed)
    objects = []
    for kind, labels in (("counter", A), ("gauge", MEM)):
        samples = series[kind]
        cuts = sorted(rng.sample(range(1, len(samples)), 6))
        for lo, hi in zip([0, *cuts], [*cuts, len(samples)], strict=True):
            objects.append(line(labels, samples[max(0, lo - rng.choice([0, 0, 3])) : hi]))
    objects += rng.sample(objects, 3)  # resent
    rng.shuffle(objects)
    pieces = Warehouse(tmp_path / "pieces.duckdb", tmp_path / "lake2")
    for i, data in enumerate(objects):
        load_object(pieces, f"s3://b/p/{i}.ndjson", ndjson(data), mapping)
    assert usage(pieces) == expected


def test_a_warehouse_stored_before_the_latest_sample_table_gets_it(
    tmp_path: Path, mapping: Path
) -> None:
    warehouse = Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")
    load_object(warehouse, "s3://b/p/1.ndjson", ndjson(line(A, COUNTER[:3])), mapping)
    with warehouse.writer() as con:  # as an older warehouse: samples but no latest samples
        con.execute("DELETE FROM prometheus_last")
    reopened = Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")
    load_object(reopened, "s3://b/p/2.ndjson", ndjson(line(A, COUNTER[3:])), mapping)
    assert usage(reopened) == COUNTER_USAGE


def test_a_warehouse_with_a_samples_table_moves_them_to_points(
    tmp_path: Path, mapping: Path
) -> None:
    warehouse = Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")
    load_object(warehouse, "s3://b/p/1.ndjson", ndjson(line(A, COUNTER[:3])), mapping)
    load_object(warehouse, "s3://b/p/2.ndjson", ndjson(line(MEM, [(T0, 2.0 * GIB)])), mapping)
    with warehouse.writer() as con:
        stored = con.execute("FROM prometheus_samples ORDER BY ALL").fetchall()
        # As an older warehouse stored them: a table with the key and URI on every sample,
        # series without numbers.
        con.execute("CREATE TABLE old_samples AS SELECT * FROM prometheus_samples")
        con.execute("DROP VIEW prometheus_samples")
        con.execute("ALTER TABLE old_samples RENAME TO prometheus_samples")
        con.execute("DELETE FROM prometheus_points")
        con.execute("DELETE FROM prometheus_objects")
        con.execute("ALTER TABLE prometheus_series DROP COLUMN series_id")
    reopened = Warehouse(tmp_path / "wh.duckdb", tmp_path / "lake")
    with reopened.writer() as con:
        kinds = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'prometheus_samples'"
        ).fetchall()
        assert kinds == [("VIEW",)]
        assert con.execute("FROM prometheus_samples ORDER BY ALL").fetchall() == stored
        ids = con.execute("SELECT series_id FROM prometheus_series ORDER BY 1").fetchall()
        assert ids == [(1,), (2,)]
    load_object(reopened, "s3://b/p/3.ndjson", ndjson(line(A, COUNTER[3:])), mapping)
    assert {k: v for k, v in usage(reopened).items() if k[1] == "api_requests"} == COUNTER_USAGE
    _, count = reopened.query("SELECT count(*), count(DISTINCT source_uri) FROM prometheus_samples")
    assert count == [(len(COUNTER) + 1, 3)]
