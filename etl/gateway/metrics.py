"""The gateway's Prometheus metrics, in a registry of its own (one per app, so tests and
several apps in one process never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]


class GatewayMetrics:
    """Counters and histograms of requests, records, objects and S3 calls."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "meterhouse_gateway_requests", "Requests to /ingest by answer status", ["status"],
            registry=r,
        )  # fmt: skip
        self.records_accepted = Counter(
            "meterhouse_gateway_records_accepted", "Records stored in S3 and acknowledged",
            registry=r,
        )  # fmt: skip
        self.records_rejected = Counter(
            "meterhouse_gateway_records_rejected",
            "Records refused (400 or 403 answers), by the rule they broke", ["rule"], registry=r,
        )  # fmt: skip
        self.objects_written = Counter(
            "meterhouse_gateway_objects_written", "NDJSON.gz objects written to the landing prefix",
            registry=r,
        )  # fmt: skip
        self.s3_errors = Counter(
            "meterhouse_gateway_s3_errors", "Failed S3 calls (PUT of a group, HEAD of the bucket)",
            ["operation"], registry=r,
        )  # fmt: skip
        self.flush_seconds = Histogram(
            "meterhouse_gateway_flush_seconds", "Time to write one group object to S3",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )  # fmt: skip
        self.group_records = Histogram(
            "meterhouse_gateway_group_records", "Records per written object",
            buckets=(1, 10, 100, 500, 1000, 5000, 10_000, 50_000, 100_000), registry=r,
        )  # fmt: skip
        self.group_requests = Histogram(
            "meterhouse_gateway_group_requests", "Requests sharing one written object",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )  # fmt: skip
        self.remote_requests = Counter(
            "meterhouse_gateway_remote_write_requests",
            "Requests to /api/v1/write by answer status", ["status"], registry=r,
        )  # fmt: skip
        self.remote_samples = Counter(
            "meterhouse_gateway_remote_write_samples",
            "Remote-write samples: stored, or dropped as stale markers or NaN/infinite values",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.buffer_bytes = Gauge(
            "meterhouse_gateway_buffer_bytes", "Bytes of requests in flight (429 above the limit)",
            registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
