"""Prometheus remote write as meterhouse lands it, and the sample rows the batch path reads.

The gateway (`POST /api/v1/write`) lands what senders posted as NDJSON.gz objects under
`<landing>prometheus/dt=<UTC day>/<gateway-id>-<boot>-<sequence>.ndjson.gz`, one line per
series of a request:

    {"labels":{"__name__":"http_requests_total","namespace":"team-a","pod":"web-1"},
     "type":"counter","samples":[[1764590400000,1027],[1764590401000,1031.5]]}

- `labels`: the series' labels as the sender gave them (Prometheus sorts them by name);
- `type`: the metric type remote write 2.0 sent (`counter`, `gauge`, ...), absent for 1.0;
- `samples`: `[timestamp in epoch milliseconds, value]` pairs; values are written with the
  shortest text that reads back as the same float (`1027`, `0.1`, `1.5e-7`, `1e+16`).

Stale markers (the NaN 0x7ff0000000000002 Prometheus writes when a series disappears) and
other NaN or infinite values carry no usage and are not landed; the gateway counts them.
"""

from __future__ import annotations

import struct
from typing import Final

import polars as pl

LANDING_PREFIX: Final = "prometheus/"
"""Where remote-write objects land, relative to the landing prefix."""

STALE_NAN_BITS: Final = 0x7FF0000000000002
"""Prometheus's staleness marker: a NaN with this exact bit pattern."""

STALE_NAN: Final[float] = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

CONTENT_TYPE_V1: Final = "application/x-protobuf"
CONTENT_TYPE_V2: Final = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
PROTO_V1: Final = "prometheus.WriteRequest"
PROTO_V2: Final = "io.prometheus.write.v2.Request"

METRIC_TYPES: Final[dict[int, str]] = {
    1: "counter",
    2: "gauge",
    3: "histogram",
    4: "gaugehistogram",
    5: "summary",
    6: "info",
    7: "stateset",
}
"""Remote write 2.0's Metadata.MetricType numbers -> the `type` landed (0: unknown, absent)."""

SAMPLE_SCHEMA: Final = pl.Schema(
    {
        "series_key": pl.String(),
        "ts_ms": pl.Int64(),
        "value": pl.Float64(),
        "value_e12": pl.Decimal(38, 0),
    }
)
"""One landed sample as the batch path reads it: `series_key` is the md5 (hex) of the series'
labels as canonical JSON (keys sorted, compact; the series' labels and metric travel once per
series, not on every sample), `value_e12` the
value in units of 1e-12: the decimal of its shortest text (Python's `repr` digits) rounded
half-even to 12 places, as a whole number (null beyond 26 integer digits); usage is computed
from it, exactly."""


def is_stale(value: float) -> bool:
    """True for Prometheus's staleness marker (compared by bits: NaN != NaN)."""
    return value != value and struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)
