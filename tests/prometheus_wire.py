"""Remote-write bodies built by the tests from the 1.0 and 2.0 protos (snappy block format)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cramjam

from contracts.prometheus import CONTENT_TYPE_V1, CONTENT_TYPE_V2
from contracts.prompb import remote_v1_pb2, write_v2_pb2

TYPES_V2 = {"counter": 1, "gauge": 2, "histogram": 3}


@dataclass
class Series:
    labels: dict[str, str]
    samples: Sequence[tuple[int, float]]
    type: str | None = None
    histograms: int = 0
    exemplars: list[float] = field(default_factory=list)


def v1_message(series: Sequence[Series]) -> bytes:
    request = remote_v1_pb2.WriteRequest()
    for s in series:
        ts = request.timeseries.add()
        for name in sorted(s.labels):
            ts.labels.add(name=name, value=s.labels[name])
        for t, v in s.samples:
            ts.samples.add(timestamp=t, value=v)
        for _ in range(s.histograms):
            ts.histograms.add(timestamp=1)
        for v in s.exemplars:
            ts.exemplars.add(value=v, timestamp=1)
    return request.SerializeToString()


def v2_message(series: Sequence[Series]) -> bytes:
    request = write_v2_pb2.Request(symbols=[""])
    index: dict[str, int] = {"": 0}

    def ref(text: str) -> int:
        if text not in index:
            index[text] = len(request.symbols)
            request.symbols.append(text)
        return index[text]

    for s in series:
        ts = request.timeseries.add()
        for name in sorted(s.labels):
            ts.labels_refs.extend([ref(name), ref(s.labels[name])])
        for t, v in s.samples:
            ts.samples.add(timestamp=t, value=v)
        if s.type:
            ts.metadata.type = TYPES_V2[s.type]
        for _ in range(s.histograms):
            ts.histograms.add(timestamp=1)
        for v in s.exemplars:
            ts.exemplars.add(value=v, timestamp=1)
    return request.SerializeToString()


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def v1_body(series: Sequence[Series]) -> bytes:
    return snappy(v1_message(series))


def v2_body(series: Sequence[Series]) -> bytes:
    return snappy(v2_message(series))


def headers(version: int = 1, key: str | None = None) -> dict[str, str]:
    out = {
        "Content-Type": CONTENT_TYPE_V2 if version == 2 else CONTENT_TYPE_V1,
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "2.0.0" if version == 2 else "0.1.0",
    }
    if key is not None:
        out["Authorization"] = f"Bearer {key}"
    return out
