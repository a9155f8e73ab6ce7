"""The remote-write decoder against the protobuf library: whatever the series' shape (one
sample or several, zero values, old or negative timestamps, stale markers, NaN, infinities,
unicode labels), the landed lines hold exactly the finite samples the request carried."""

from __future__ import annotations

import gzip
import json
import math
import random

import pytest

from contracts.prometheus import STALE_NAN
from contracts.prompb import remote_v1_pb2
from etl.gateway.records import BodyError
from etl.gateway.remote_columns import one_sample_lines
from etl.gateway.remote_write import LabelCache, decode, protocol_of
from tests.prometheus_wire import Series, v1_body, v1_message, v2_body

VALUES = [0.0, -0.0, 1.0, -2.5, 0.1 + 0.2, 1e-300, 1.7976931348623157e308, 123456789.125,
          float("nan"), float("inf"), float("-inf"), STALE_NAN]  # fmt: skip
TIMES = [0, 1, 127, 128, 1_764_547_200_000, 2**35, 2**42 - 1, 2**42, -5]


def _series(rng: random.Random, i: int) -> Series:
    labels = {"__name__": f"m{i % 3}", "namespace": rng.choice(["a", "b", "ü-é", 'q"x']),
              "pod": "p" * rng.randint(1, 200)}  # fmt: skip
    samples = [(rng.choice(TIMES) + k, rng.choice(VALUES)) for k in range(rng.choice([1, 1, 2, 3]))]
    return Series(labels, samples, type=rng.choice([None, "counter", "gauge"]))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("seed", range(5))
def test_lines_hold_exactly_the_finite_samples(version: int, seed: int) -> None:
    rng = random.Random(seed)
    series = [_series(rng, i) for i in range(300)]
    body = (v2_body if version == 2 else v1_body)(series)
    cache = LabelCache()
    for _ in range(2):  # cold, then warm cache
        decoded = decode(body, version, 64 << 20, cache)
        lines = [json.loads(x) for x in gzip.decompress(decoded.member).splitlines()]
        expected = []
        for s in series:
            kept = [[t, v] for t, v in s.samples if math.isfinite(v)]
            if kept:
                row: dict[str, object] = {"labels": dict(sorted(s.labels.items()))}
                if version == 2 and s.type:
                    row["type"] = s.type
                row["samples"] = kept
                expected.append(row)
        # the lines of one-sample series come first (read as columns), in series order
        assert sorted(lines, key=json.dumps) == sorted(expected, key=json.dumps)
        assert decoded.samples == sum(len(s.samples) for s in series)
        stale = sum(1 for s in series for _, v in s.samples if v is STALE_NAN)
        assert decoded.stale == stale


def test_content_types() -> None:
    assert protocol_of("application/x-protobuf") == 1
    assert protocol_of("application/x-protobuf;proto=prometheus.WriteRequest") == 1
    assert protocol_of("application/x-protobuf; proto=io.prometheus.write.v2.Request") == 2
    with pytest.raises(BodyError) as err:
        protocol_of("application/json")
    assert err.value.status == 415


def test_cached_one_sample_series_are_read_as_columns() -> None:
    """Once their labels are cached, one-sample series are read in bulk; a zero value (no
    value field), a timestamp beyond six varint bytes or a second sample leave a series to
    the one-by-one reader, and both give the same lines."""
    samples = [(2**35, 1.5), (2**42 - 1, -2.0), (2**42, 3.0), (1_764_547_200_000, 0.0),
               (1_764_547_200_000, STALE_NAN), (1_764_547_200_000, float("inf")),
               (1_764_547_200_000, 1e-300)]  # fmt: skip
    series = [Series({"__name__": "m", "i": str(i)}, [s]) for i, s in enumerate(samples)]
    series.append(Series({"__name__": "m", "i": "two"}, [(2**35, 1.0), (2**35 + 1, 2.0)]))
    message = v1_message(series)
    cache = LabelCache()
    cold = decode(v1_body(series), 1, 64 << 20, cache)
    raws = list(remote_v1_pb2.WriteRequestBytes.FromString(message).timeseries)
    columns = one_sample_lines(raws, cache.get)
    assert columns.left == [2, 3, 7]
    assert (columns.samples, columns.stale, columns.not_finite) == (5, 1, 1)
    lines = [json.loads(x) for x in columns.text.splitlines()]
    assert [(x["labels"]["i"], x["samples"]) for x in lines] == [
        ("0", [[2**35, 1.5]]),
        ("1", [[2**42 - 1, -2.0]]),
        ("6", [[1_764_547_200_000, 1e-300]]),
    ]
    warm = decode(v1_body(series), 1, 64 << 20, cache)
    assert _parsed(warm.member) == _parsed(cold.member) and len(_parsed(cold.member)) == 6


def _parsed(member: bytes) -> list[object]:
    return sorted((json.loads(x) for x in gzip.decompress(member).splitlines()), key=json.dumps)
