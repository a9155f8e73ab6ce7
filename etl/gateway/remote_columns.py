"""Remote write 1.0 series of one sample each, read as columns instead of one by one.

A scraping Prometheus sends every series with exactly one sample, and protobuf encodes such a
series as its labels followed by a fixed 18-byte tail whenever the value is not zero and the
timestamp is a 6-byte varint (every millisecond from 2004 to 2527):

    12 10 | 09 <value: 8 bytes, little-endian double> | 10 <timestamp: 6-byte varint>

numpy reads the tails of a whole request at once (the value, the timestamp, whether the tail
has that shape) and Arrow writes the request's NDJSON lines in one element-wise join; Python
only slices off each series' label bytes to look their line head up in the label cache (in
C: `map`). The values are written with the shortest text that reads back as the same float
(Arrow's float formatting: `3`, `0.1`, `1e+16`). A series whose tail has another shape, or
whose label bytes are not cached, is left to the caller.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts.prometheus import STALE_NAN_BITS

_TAIL = 18
_SHAPE = np.frombuffer(b"\x12\x10\x09", np.uint8)  # sample, 16 bytes; value, 64-bit
_TS_TAG = 0x10  # field 2 (timestamp), varint
_LABELS = operator.itemgetter(slice(None, -_TAIL))
# Arrow's default pool (mimalloc) keeps what each of the gateway's threads freed: ~120 MiB
# more resident under 16 concurrent requests than malloc.
_POOL = pa.system_memory_pool()
_OPEN, _COMMA, _END, _NOTHING = (pa.scalar(x, pa.binary()) for x in (b"[", b",", b"]]}\n", b""))


@dataclass(frozen=True)
class Columns:
    """What the fast path made of a request's series."""

    text: bytes
    """NDJSON lines of the finite samples of the series it read."""
    left: list[int]
    """The indexes of the series left to the caller."""
    samples: int
    stale: int
    not_finite: int


def _text(column: np.ndarray) -> pa.Array:
    """Numbers -> their shortest round-trip text, as binary."""
    text = pc.cast(pa.array(column), pa.string(), memory_pool=_POOL)
    return pc.cast(text, pa.binary(), memory_pool=_POOL)


def one_sample_lines(raws: Sequence[bytes], head_of: Callable[[bytes], bytes | None]) -> Columns:
    """The lines of every series of `raws` with the one-sample tail whose label bytes
    `head_of` knows (its cached line head); the others are left (by index)."""
    count = len(raws)
    if not count:
        return Columns(b"", [], 0, 0, 0)
    sizes = np.fromiter(map(len, raws), np.int64, count)
    whole = np.frombuffer(b"".join(raws), np.uint8)
    long = sizes >= _TAIL
    starts = np.where(long, np.cumsum(sizes) - _TAIL, 0)
    tails = whole[starts[:, None] + np.arange(_TAIL)]
    values = np.ascontiguousarray(tails[:, 3:11]).view("<f8").ravel()
    stamp = tails[:, 12:].astype(np.int64)
    ts = stamp[:, 5] << 35
    for k in range(5):
        ts |= (stamp[:, k] & 0x7F) << (7 * k)
    heads = pa.array(list(map(head_of, map(_LABELS, raws))), pa.binary(), memory_pool=_POOL)
    done = (
        long
        & (tails[:, :3] == _SHAPE).all(axis=1)
        & (tails[:, 11] == _TS_TAG)
        & (tails[:, 12:17] >= 0x80).all(axis=1)
        & (tails[:, 17] < 0x80)
    )
    if heads.null_count:
        done &= heads.is_valid().to_numpy(zero_copy_only=False)
    finite = np.isfinite(values)
    stale = done & (values.view("<u8") == STALE_NAN_BITS)
    keep = done & finite
    text = b""
    if keep.any():
        if not keep.all():
            heads = pc.filter(heads, pa.array(keep), memory_pool=_POOL)
            ts, values = ts[keep], values[keep]
        lines = pc.binary_join_element_wise(
            heads, _OPEN, _text(ts), _COMMA, _text(values), _END, _NOTHING, memory_pool=_POOL
        )
        # a fresh array: its values are its data buffer, end to end, up to its last offset
        end = int(np.frombuffer(lines.buffers()[1], np.int32)[len(lines)])
        text = lines.buffers()[2].to_pybytes()[:end]
    return Columns(
        text,
        np.flatnonzero(~done).tolist(),
        int(done.sum()),
        int(stale.sum()),
        int((done & ~finite).sum()) - int(stale.sum()),
    )
