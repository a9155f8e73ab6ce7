"""The Prometheus mapping file: which metrics are meters, and how samples become usage.

YAML, validated with pydantic; its path is METERHOUSE_PROMETHEUS_MAPPING. Example:

    customer_label: namespace        # the label naming the customer (default `namespace`)
    interval: 1h                     # usage per series x interval (default 1h)
    meters:
      - metric: http_requests_total  # the series' __name__ ...
        match: {code: "200"}         # ... and, optionally, labels that must equal these
        meter: api_requests
        unit: requests
        kind: counter                # increase per interval, resets handled; not
                                     # counted across a silence of more than a day
        dimensions: [service]        # labels kept as dimensions (an allow-list)
      - metric: kube_pod_container_resource_requests_memory_bytes
        meter: memory_requested
        unit: GiB-hours
        kind: gauge                  # time integral, sample-and-hold
        divide_by: 1073741824        # bytes -> GiB (a whole number)
        per: hour                    # GiB x hours (second, minute or hour)
        max_gap: 5m                  # a longer silence counts no usage
        dimensions: [pod, container]

The first rule whose metric and labels match a series wins; a series no rule matches is
unmapped (counted per metric, shown by `meterhouse status`, not loaded).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from etl.errors import TerminalError

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
PER_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}


class MappingError(TerminalError):
    """The mapping file cannot be read or breaks its rules."""


def duration_ms(text: str | int) -> int:
    """`90s`, `5m`, `1h`, `1d` (or whole milliseconds) -> milliseconds."""
    if isinstance(text, int):
        return text
    found = _DURATION.match(str(text))
    if not found:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 1d")
    return int(found.group(1)) * _UNIT_MS[found.group(2)]


class MeterRule(BaseModel):
    """One metric (optionally narrowed by labels) -> one meter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(min_length=1)
    match: dict[str, str] = Field(default_factory=dict)
    meter: str = Field(min_length=1, max_length=256)
    unit: str | None = None
    kind: Literal["counter", "gauge"]
    dimensions: tuple[str, ...] = ()
    customer_label: str | None = None
    interval: str | None = None
    divide_by: int = Field(1, gt=0)
    per: Literal["second", "minute", "hour"] = "hour"
    max_gap: str = "5m"

    @field_validator("interval", "max_gap")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and duration_ms(value) <= 0:
            raise ValueError("must be longer than 0")
        return value


class PrometheusMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_label: str = "namespace"
    interval: str = "1h"
    meters: tuple[MeterRule, ...] = ()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        ms = duration_ms(value)
        if ms <= 0 or 86_400_000 % ms:
            raise ValueError("must divide a day evenly (e.g. 5m, 15m, 1h, 1d)")
        return value

    def rule_for(self, metric: str, labels: dict[str, str]) -> MeterRule | None:
        """The first rule matching a series, or None (unmapped)."""
        for rule in self.meters:
            if rule.metric == metric and all(labels.get(k) == v for k, v in rule.match.items()):
                return rule
        return None

    def interval_ms(self, rule: MeterRule) -> int:
        return duration_ms(rule.interval or self.interval)

    def customer_of(self, rule: MeterRule) -> str:
        return rule.customer_label or self.customer_label


NO_MAPPING = PrometheusMapping()
"""No mapping file configured: every metric is unmapped."""


def parse_mapping(text: str, where: str = "mapping") -> PrometheusMapping:
    """A mapping from YAML text; MappingError naming the field and what it must be."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{where}: not valid YAML ({exc})") from None
    try:
        mapping = PrometheusMapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        )
        raise MappingError(
            f"{where}: {problems} (see the mapping example in the README)"
        ) from None
    for rule in mapping.meters:
        interval = mapping.interval_ms(rule)
        if 86_400_000 % interval:
            raise MappingError(f"{where}: meter {rule.meter}: interval must divide a day evenly")
    return mapping


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> PrometheusMapping:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise MappingError(
            f"METERHOUSE_PROMETHEUS_MAPPING={path!r}: cannot read it ({exc})"
        ) from None
    return parse_mapping(text, f"METERHOUSE_PROMETHEUS_MAPPING={path!r}")


def load_mapping(path: Path | None) -> PrometheusMapping:
    """The mapping at `path` (re-read when the file changes); NO_MAPPING for None."""
    if path is None:
        return NO_MAPPING
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise MappingError(
            f"METERHOUSE_PROMETHEUS_MAPPING={str(path)!r}: cannot read it ({exc})"
        ) from None
    return _load(str(path), mtime)
