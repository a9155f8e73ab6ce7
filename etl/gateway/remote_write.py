"""Prometheus remote write (`POST /api/v1/write`): 1.0 and 2.0 bodies -> landed NDJSON.gz.

A request is decoded whole (snappy block format, then protobuf), its series become NDJSON
lines (contracts.prometheus describes them) in one gzip member, and the member joins a group
of the remote-write committer (the same group commit as /ingest, under `prometheus/`). The
answer comes only once the group is in S3:

    204  stored (2.0's X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written say
         how many; native histograms and exemplars are counted as received, not metered: 0)
    400  not snappy, not the protobuf message, a label reference outside the symbol table, a
         series without __name__ (senders never retry a 400: the body says what was wrong)
    401  no key or an unknown key (X-API-KEY, or Authorization: Bearer as Prometheus sends)
    403  a key scoped to customers: the customer of a sample is only known once the mapping
         is applied in the batch path, so remote write needs an unscoped key
    413  body over METERHOUSE_GATEWAY_MAX_BODY_BYTES, or over _MAX_DECOMPRESSED_BYTES inflated
    415  a Content-Type other than the two protobuf messages, a Content-Encoding not snappy
    429  the in-flight buffer is full; 503 the S3 write failed (both with Retry-After)

A series seen before is turned into its line's head by one dictionary lookup: its labels'
encoded bytes key a bounded cache of their JSON (a scraping Prometheus sends the same series
every interval), so the steady-state cost is the samples, not the labels. In 1.0 requests,
the series of one sample (all of them, from a scraping Prometheus) are read as columns
(etl.gateway.remote_columns); the others, and a series not cached yet, one by one here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import cramjam
import msgspec
from google.protobuf.message import DecodeError

from contracts.prometheus import CONTENT_TYPE_V1, METRIC_TYPES, PROTO_V1, PROTO_V2, is_stale
from contracts.prompb import remote_v1_pb2, write_v2_pb2
from etl.gateway.records import BodyError, too_large
from etl.gateway.remote_columns import one_sample_lines

_GZIP_LEVEL = 1
_CACHE_LIMIT = 200_000
_encode = msgspec.json.encode


@dataclass(frozen=True)
class Decoded:
    """A request turned into one gzip member of NDJSON lines, with what it held."""

    member: bytes
    series: int
    samples: int
    stale: int
    not_finite: int
    histograms: int
    exemplars: int

    @property
    def landed(self) -> int:
        return self.samples - self.stale - self.not_finite


def protocol_of(content_type: str) -> int:
    """1 or 2 from the Content-Type; BodyError 415 for anything else."""
    media, _, params = content_type.partition(";")
    proto = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "proto":
            proto = value.strip().strip('"')
    if media.strip().lower() == CONTENT_TYPE_V1:
        if proto in ("", PROTO_V1):
            return 1
        if proto == PROTO_V2:
            return 2
    raise BodyError(
        415, "prometheus.content_type", "Unsupported Content-Type",
        f"Content-Type {content_type[:100]!r} is not supported; send "
        f"{CONTENT_TYPE_V1} (remote write 1.0) or {CONTENT_TYPE_V1};proto={PROTO_V2} (2.0)",
    )  # fmt: skip


def uncompressed_length(body: bytes) -> int:
    """The length a snappy block declares in its first bytes (a varint)."""
    length = shift = 0
    for i, byte in enumerate(body[:10]):
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length
        shift += 7
        if i == 9:
            break
    raise _invalid("prometheus.body.snappy", "the body is not snappy block-compressed data")


def _invalid(rule: str, detail: str) -> BodyError:
    return BodyError(400, rule, "Invalid remote-write request", detail)


def inflate(body: bytes, max_bytes: int) -> bytes:
    """The snappy block, decompressed, refused before inflating when it declares too much."""
    if uncompressed_length(body) > max_bytes:
        raise too_large(
            "gateway.body.decompressed_size",
            f"the body declares more than {max_bytes} bytes once decompressed "
            "(METERHOUSE_GATEWAY_MAX_DECOMPRESSED_BYTES); lower max_samples_per_send",
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise _invalid(
            "prometheus.body.snappy",
            f"the body is not snappy block-compressed data ({exc}); remote write sends "
            "Content-Encoding: snappy in the block format, not the framed one",
        ) from None


class LabelCache:
    """Series label bytes -> the JSON head of their NDJSON line, bounded (cleared when full)."""

    def __init__(self, limit: int = _CACHE_LIMIT) -> None:
        self.limit = limit
        self.heads: dict[object, bytes] = {}
        self.get = self.heads.get

    def put(self, key: object, head: bytes) -> bytes:
        if len(self.heads) >= self.limit:
            self.heads.clear()
        self.heads[key] = head
        return head


def _head(labels: dict[str, str], metric_type: str | None, index: int) -> bytes:
    if not labels.get("__name__"):
        raise _invalid(
            "prometheus.series.name",
            f"series {index} has no __name__ label (labels {sorted(labels)[:10]}); "
            "every remote-write series names its metric",
        )
    head = b'{"labels":' + _encode(labels)
    if metric_type is not None:
        head += b',"type":"' + metric_type.encode() + b'"'
    return head + b',"samples":['


@dataclass
class _Tally:
    samples: int = 0
    stale: int = 0
    not_finite: int = 0


def _samples_text(samples: Iterable[tuple[int, float]], tally: _Tally) -> bytes:
    parts = []
    for ts, value in samples:
        tally.samples += 1
        if not math.isfinite(value):
            if is_stale(value):
                tally.stale += 1
            else:
                tally.not_finite += 1
            continue
        parts.append(f"[{ts},{value!r}]")
    return ",".join(parts).encode()


def _finish(lines: list[bytes], series: int, tally: _Tally, hist: int, ex: int) -> Decoded:
    body = b"".join(lines)
    member = bytes(cramjam.gzip.compress(body, level=_GZIP_LEVEL)) if body else b""
    return Decoded(member, series, tally.samples, tally.stale, tally.not_finite, hist, ex)


def _label_message(encoded: Iterable[bytes]) -> bytes:
    out = bytearray()
    for label in encoded:
        out += b"\n" + _varint(len(label)) + label
    return bytes(out)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_UNPACK_DOUBLE = struct.Struct("<d").unpack_from


def _one_sample(series: bytes) -> tuple[bytes, int, float] | None:
    """(label bytes, timestamp, value) of a series that ends in exactly one sample with a
    6-byte varint timestamp (every millisecond timestamp from 2004 to 2527) and a non-zero
    value, as Prometheus encodes it; None for any other shape."""
    if len(series) < 18 or series[-18:-15] != b"\x12\x10\x09" or series[-7] != 0x10:
        return None
    t = series[-6:]
    if t[5] & 0x80 or int.from_bytes(t[:5], "little") & 0x8080808080 != 0x8080808080:
        return None
    ts = (
        (t[0] & 0x7F) | (t[1] & 0x7F) << 7 | (t[2] & 0x7F) << 14 | (t[3] & 0x7F) << 21
        | (t[4] & 0x7F) << 28 | t[5] << 35
    )  # fmt: skip
    return series[:-18], ts, _UNPACK_DOUBLE(series, len(series) - 15)[0]


def _v1_head(key: bytes, index: int, cache: LabelCache) -> bytes | None:
    """The line head of the labels encoded in `key`; None when `key` holds more than labels
    (a series whose last sample only looked like the fast path's)."""
    head = cache.get(key)
    if head is None:
        try:
            parsed = remote_v1_pb2.TimeSeries.FromString(key)
        except DecodeError:
            return None
        if parsed.samples or parsed.exemplars or parsed.histograms:
            return None
        head = cache.put(key, _head({lb.name: lb.value for lb in parsed.labels}, None, index))
    return head


def decode_v1(data: bytes, cache: LabelCache) -> Decoded:
    """A remote write 1.0 WriteRequest -> NDJSON lines (no metric type: 1.0 sends it apart).

    A series with one sample (what a scraping Prometheus sends) is read from its bytes: its
    labels' bytes key the cache of line heads (all such series of the request at once once
    cached: remote_columns); any other series is read by protobuf."""
    try:
        request = remote_v1_pb2.WriteRequestBytes.FromString(data)
    except DecodeError as exc:
        raise _invalid(
            "prometheus.body.protobuf",
            f"the decompressed body is not a prometheus.WriteRequest protobuf message ({exc})",
        ) from None
    raws = list(request.timeseries)
    columns = one_sample_lines(raws, cache.get)
    lines: list[bytes] = [columns.text]
    tally = _Tally(columns.samples, columns.stale, columns.not_finite)
    histograms = exemplars = 0
    heads = cache.get
    isfinite = math.isfinite
    append = lines.append
    for index in columns.left:
        raw = raws[index]
        fast = _one_sample(raw)
        if fast is not None:
            key, ts, value = fast
            head = heads(key) or _v1_head(key, index, cache)
            if head is not None:
                tally.samples += 1
                if isfinite(value):
                    append(b"%s[%d,%b]]}\n" % (head, ts, repr(value).encode()))
                elif is_stale(value):
                    tally.stale += 1
                else:
                    tally.not_finite += 1
                continue
        try:
            series = remote_v1_pb2.TimeSeriesView.FromString(raw)
        except DecodeError as exc:
            raise _invalid(
                "prometheus.body.protobuf", f"series {index} is malformed ({exc})"
            ) from None
        head = _v1_head(_label_message(series.labels), index, cache)
        if head is None:
            raise _invalid("prometheus.body.protobuf", f"series {index} has malformed labels")
        histograms += len(series.histograms)
        exemplars += len(series.exemplars)
        text = _samples_text(((s.timestamp, s.value) for s in series.samples), tally)
        if text:
            append(head + text + b"]}\n")
    return _finish(lines, len(request.timeseries), tally, histograms, exemplars)


def decode_v2(data: bytes, cache: LabelCache) -> Decoded:
    """A remote write 2.0 Request: labels resolved through its symbol table; the metric
    type it sends is landed with each series."""
    try:
        request = write_v2_pb2.Request.FromString(data)
    except DecodeError as exc:
        raise _invalid(
            "prometheus.body.protobuf",
            f"the decompressed body is not an {PROTO_V2} protobuf message ({exc})",
        ) from None
    symbols = list(request.symbols)
    lines: list[bytes] = []
    append = lines.append
    tally = _Tally()
    histograms = exemplars = 0
    heads = cache.get
    isfinite = math.isfinite
    for index, series in enumerate(request.timeseries):
        refs = series.labels_refs
        try:
            names = tuple(map(symbols.__getitem__, refs))
        except IndexError:
            names = ()
        if len(names) != len(refs) or len(refs) % 2:
            raise _invalid(
                "prometheus.series.labels_refs",
                f"series {index}: labels_refs {list(refs)[:20]} must be name/value pairs of "
                f"indexes below the {len(symbols)} symbols of the request",
            )
        key = (names, series.metadata.type)
        head = heads(key)
        if head is None:
            labels = dict(zip(names[::2], names[1::2], strict=True))
            head = cache.put(key, _head(labels, METRIC_TYPES.get(key[1]), index))
        histograms += len(series.histograms)
        exemplars += len(series.exemplars)
        samples = series.samples
        if len(samples) == 1:  # what a scraping sender sends: no generator, no join
            sample = samples[0]
            value = sample.value
            tally.samples += 1
            if isfinite(value):
                append(b"%s[%d,%b]]}\n" % (head, sample.timestamp, repr(value).encode()))
            elif is_stale(value):
                tally.stale += 1
            else:
                tally.not_finite += 1
            continue
        text = _samples_text(((s.timestamp, s.value) for s in samples), tally)
        if text:
            append(head + text + b"]}\n")
    return _finish(lines, len(request.timeseries), tally, histograms, exemplars)


def decode(body: bytes, protocol: int, max_decompressed: int, cache: LabelCache) -> Decoded:
    """A request's body (snappy) -> its landed member and counts; BodyError when invalid."""
    data = inflate(body, max_decompressed)
    return decode_v2(data, cache) if protocol == 2 else decode_v1(data, cache)

