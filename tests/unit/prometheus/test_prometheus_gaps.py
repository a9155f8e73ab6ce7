"""Long silences between samples: a counter's increase over more than a day and a gauge's hold
beyond its max_gap count nothing, whether the two samples arrive in one object or in several,
in any order (the stored sample before an interval then comes from the warehouse)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.warehouse import Warehouse
from tests.prometheus_usage import HOUR, T0, line, load_object, mapping_file, ndjson, usage

REQ = {"__name__": "requests_total", "namespace": "team-a", "service": "web"}
MEM = {"__name__": "memory_bytes", "namespace": "team-b"}
LONG = {"__name__": "disk_bytes", "namespace": "team-c"}
DAY = 24 * HOUR
MAPPING = """
customer_label: namespace
interval: 1h
meters:
  - {metric: requests_total, meter: api_requests, unit: requests, kind: counter}
  - {metric: memory_bytes, meter: memory, unit: B-hours, kind: gauge, per: hour, max_gap: 5m}
  - {metric: disk_bytes, meter: disk, unit: B-hours, kind: gauge, per: hour, max_gap: 2d}
"""

# A counter silent for 25 h (10 -> 30), then +5 within a second.
SILENT_COUNTER = [(T0, 10.0), (T0 + 25 * HOUR, 30.0), (T0 + 25 * HOUR + 1000, 35.0)]
# A gauge with max_gap 2d: 3 B held 30 h (counted), then 2 B after a 3-day silence (not).
LONG_GAUGE = [(T0, 3.0), (T0 + 30 * HOUR, 2.0), (T0 + 102 * HOUR, 2.0)]
EXPECTED = {
    ("team-a", "api_requests", T0 + 25 * HOUR): Decimal(5),
    **{("team-c", "disk", T0 + h * HOUR): Decimal(3) for h in range(30)},
}


def _warehouse(tmp: Path, name: str) -> Warehouse:
    return Warehouse(tmp / f"{name}.duckdb", tmp / f"{name}-lake")


@pytest.mark.parametrize(
    "split", ["one object", "two objects", "two objects, later first", "three, shuffled"]
)
def test_a_long_silence_counts_the_same_in_one_object_or_several(
    tmp_path: Path, split: str
) -> None:
    mapping = mapping_file(tmp_path, MAPPING)
    objects = {
        "one object": [[(REQ, SILENT_COUNTER), (LONG, LONG_GAUGE)]],
        "two objects": [
            [(REQ, SILENT_COUNTER[:1]), (LONG, LONG_GAUGE[:1])],
            [(REQ, SILENT_COUNTER[1:]), (LONG, LONG_GAUGE[1:])],
        ],
        "two objects, later first": [
            [(REQ, SILENT_COUNTER[1:]), (LONG, LONG_GAUGE[1:])],
            [(REQ, SILENT_COUNTER[:1]), (LONG, LONG_GAUGE[:1])],
        ],
        "three, shuffled": [
            [(REQ, SILENT_COUNTER[2:]), (LONG, LONG_GAUGE[2:])],
            [(REQ, SILENT_COUNTER[:1]), (LONG, LONG_GAUGE[:1])],
            [(REQ, SILENT_COUNTER[1:2]), (LONG, LONG_GAUGE[1:2])],
        ],
    }[split]
    warehouse = _warehouse(tmp_path, "wh")
    for i, series in enumerate(objects):
        data = ndjson(*(line(labels, samples) for labels, samples in series))
        load_object(warehouse, f"s3://b/prometheus/{i}.ndjson", data, mapping)
    assert usage(warehouse) == EXPECTED


_STEPS = st.sampled_from(
    [1000, 15_000, 4 * 60_000, 7 * 60_000, HOUR, 23 * HOUR, DAY, DAY + 1, 25 * HOUR, 3 * DAY]
)
_SERIES = st.lists(
    st.tuples(_STEPS, st.sampled_from([0.0, 1.0, 2.5, 1e6 + 0.125, -1.0])),  # -1: a reset
    min_size=2,
    max_size=14,
)


def _timeline(steps: list[tuple[int, float]], counter: bool) -> list[tuple[int, float]]:
    out, ts, value = [], T0, 0.0
    for step, change in steps:
        ts += step
        if counter:
            value = 0.0 if change < 0 else value + change
        else:
            value = abs(change) * 3
        out.append((ts, value))
    return out


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    counter=_SERIES,
    gauge=_SERIES,
    long_gauge=_SERIES,
    parts=st.integers(2, 4),
    data=st.data(),
)
def test_any_split_and_arrival_order_gives_the_usage_of_one_object(
    tmp_path_factory: pytest.TempPathFactory,
    counter: list[tuple[int, float]],
    gauge: list[tuple[int, float]],
    long_gauge: list[tuple[int, float]],
    parts: int,
    data: st.DataObject,
) -> None:
    """Counter (with resets) and gauges with gaps shorter and longer than a day and than their
    max_gap; every sample goes to one of several objects (some resent), loaded in any order."""
    tmp = tmp_path_factory.mktemp("split")
    mapping = mapping_file(tmp, MAPPING)
    series = [
        (REQ, _timeline(counter, True)),
        (MEM, _timeline(gauge, False)),
        (LONG, _timeline(long_gauge, False)),
    ]
    whole = _warehouse(tmp, "whole")
    load_object(
        whole, "s3://b/prometheus/all.ndjson", ndjson(*(line(lb, s) for lb, s in series)), mapping
    )
    objects: list[list[bytes]] = [[] for _ in range(parts)]
    for labels, samples in series:
        owner = data.draw(st.lists(st.integers(0, parts - 1), min_size=len(samples),
                                   max_size=len(samples)))  # fmt: skip
        for part in range(parts):
            mine = [s for s, o in zip(samples, owner, strict=True) if o == part]
            if mine:
                objects[part].append(line(labels, mine))
    order = data.draw(st.permutations(range(parts)))
    resent = data.draw(st.lists(st.integers(0, parts - 1), max_size=2))
    pieces = _warehouse(tmp, "pieces")
    for n, i in enumerate([*order, *resent]):
        if objects[i]:
            load_object(pieces, f"s3://b/prometheus/{i}-{n}.ndjson", ndjson(*objects[i]), mapping)
    assert usage(pieces) == usage(whole)
