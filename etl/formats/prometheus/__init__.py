"""Prometheus remote write in the batch path: mapping (which metrics are meters) -> parser
(landed series lines -> mapped samples). Usage per series x interval is computed in the
warehouse from every stored sample (etl.warehouse.prometheus)."""

from __future__ import annotations

from typing import Final

from etl.formats.prometheus.mapping import (
    NO_MAPPING,
    MappingError,
    MeterRule,
    PrometheusMapping,
    load_mapping,
    parse_mapping,
)
from etl.formats.prometheus.parser import PrometheusParser, read_samples

__all__: Final[list[str]] = [
    "NO_MAPPING",
    "MappingError",
    "MeterRule",
    "PrometheusMapping",
    "PrometheusParser",
    "load_mapping",
    "parse_mapping",
    "read_samples",
]
