"""Helpers of the Prometheus tests: landed series lines, a mapping, loading into a real DuckDB
warehouse file and reading usage back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from etl.formats.base import ParseOptions
from etl.formats.registry import parse_source
from etl.warehouse import Warehouse
from etl.warehouse.records import SourceLoad

MAPPING_YAML = """
customer_label: namespace
interval: 1h
meters:
  - metric: requests_total
    meter: api_requests
    unit: requests
    kind: counter
    dimensions: [service]
  - metric: memory_bytes
    meter: memory
    unit: GiB-hours
    kind: gauge
    divide_by: 1073741824
    per: hour
    max_gap: 5m
  - metric: cores
    meter: cpu
    unit: core-seconds
    kind: gauge
    per: second
    max_gap: 10s
"""

HOUR = 3_600_000
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z


def line(labels: dict[str, str], samples: Sequence[tuple[int, float]], type_: str | None = None) -> bytes:
    body: dict[str, Any] = {"labels": labels}
    if type_:
        body["type"] = type_
    body["samples"] = [[t, v] for t, v in samples]
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def ndjson(*lines: bytes) -> bytes:
    return b"".join(lines)


def mapping_file(tmp: Path, text: str = MAPPING_YAML) -> Path:
    path = tmp / "mapping.yaml"
    path.write_text(text)
    return path


def load_object(warehouse: Warehouse, uri: str, data: bytes, mapping: Path) -> Any:
    parsed = parse_source(
        data, uri, datetime.now(tz=UTC), ParseOptions(prometheus_mapping=mapping)
    )
    assert parsed.prometheus is not None, parsed
    load = SourceLoad(
        source_uri=uri, source_key=uri.split("/", 3)[-1], etag=hashlib.md5(data).hexdigest(),
        size_bytes=len(data), checksum_sha256=hashlib.sha256(data).hexdigest(),
        last_modified=datetime.now(tz=UTC), source_format=parsed.source_format,
        rows_in=parsed.rows_in, events=parsed.events, rejects=parsed.rejects,
    )  # fmt: skip
    return warehouse.load_prometheus(replace(load), parsed.prometheus)


def usage(warehouse: Warehouse) -> dict[tuple[str, str, int], Decimal]:
    """(customer, meter, interval start ms) -> quantity summed over series."""
    _, rows = warehouse.query(
        "SELECT customer_id, meter_name, epoch_ms(event_time), sum(quantity) FROM meter_events "
        "GROUP BY ALL"
    )
    return {(c, m, int(t)): q for c, m, t, q in rows}
