"""Landed remote-write objects (contracts.prometheus) -> the samples of mapped metrics.

DuckDB's JSON reader (in memory) reads the NDJSON with the schema given and unnests every
series' samples; each series gets its key (md5 of its labels as canonical JSON: sorted keys,
compact) and, once per distinct series, its meter from the mapping. Samples of unmapped
metrics are only counted; a mapped series without its customer label is rejected (one reject
row per series line, counting its samples). Usage is computed later, in the warehouse, from
every stored sample (etl.warehouse.prometheus).
"""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import datetime
from typing import Any

import polars as pl

from contracts.meter_event import REJECT_SCHEMA
from contracts.prometheus import SAMPLE_SCHEMA
from etl.errors import FormatError
from etl.formats.base import (
    FormatParser,
    ParsedSource,
    ParseOptions,
    PrometheusBatch,
    SourceFormat,
    no_rows,
)
from etl.formats.prometheus.mapping import (
    PER_MS,
    PrometheusMapping,
    duration_ms,
    load_mapping,
)

FORMAT: SourceFormat = "prometheus"
_HEAD = b'{"labels":'

# One row per series line (the JSON reader's unnesting of every sample, with its line's
# labels copied onto each, costs several times the read); polars explodes the samples.
_READ = """
SELECT md5(labels_json) AS series_key, metric, labels_json AS labels, metric_type, samples
FROM (
  SELECT to_json(map_from_entries(list_sort(map_entries(labels)))) AS labels_json,
         labels['__name__'] AS metric, type AS metric_type, samples
  FROM read_json($path, format = 'newline_delimited',
                 columns = {'labels': 'MAP(VARCHAR, VARCHAR)', 'type': 'VARCHAR',
                            'samples': 'DOUBLE[][]'}))
"""

_DIMENSIONS: pl.DataType = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
SERIES_SCHEMA: pl.Schema = pl.Schema(
    {
        "series_key": pl.String(),
        "metric": pl.String(),
        "labels": pl.String(),
        "metric_type": pl.String(),
        "meter_name": pl.String(),
        "unit": pl.String(),
        "kind": pl.String(),
        "customer_id": pl.String(),
        "dimensions": _DIMENSIONS,
        "interval_ms": pl.Int64(),
        "max_gap_ms": pl.Int64(),
        "divide_by": pl.Int64(),
        "per_ms": pl.Int64(),
    }
)
"""What the mapping made of each mapped series (one row per series)."""

UNMAPPED_SCHEMA = pl.Schema({"metric": pl.String, "samples": pl.Int64})

_READERS = threading.local()


def _reader() -> Any:
    con = getattr(_READERS, "con", None)
    if con is None:
        import duckdb

        con = _READERS.con = duckdb.connect(config={"memory_limit": "1GB", "threads": 1})
    return con


def read_samples(data: bytes, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An object's series lines (series_key, metric, labels, metric_type) and every landed
    sample (SAMPLE_SCHEMA: the series' key, not its labels, on each); FormatError when it is
    not NDJSON of series lines."""
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            frame = _reader().execute(_READ, {"path": tmp.name}).pl()
        except Exception as exc:  # DuckDB's errors name the line; the object fails whole
            raise FormatError(
                f"{uri}: not remote-write series lines ({str(exc).splitlines()[0][:300]}); "
                "objects under prometheus/ are written by the gateway's /api/v1/write"
            ) from None
    pairs = frame.select("series_key", "samples").explode("samples").drop_nulls("samples")
    samples: pl.DataFrame = pairs.select(
        "series_key",
        pl.col("samples").list.get(0, null_on_oob=True).cast(pl.Int64).alias("ts_ms"),
        pl.col("samples").list.get(1, null_on_oob=True).alias("value"),
        value_e12(pl.col("samples").list.get(1, null_on_oob=True)),
    ).cast(dict(SAMPLE_SCHEMA))  # fmt: skip
    return frame.drop("samples"), samples


def value_e12(value: pl.Expr) -> pl.Expr:
    """A float column -> whole units of 1e-12 (Decimal(38, 0)), null beyond 26 integer digits.

    Polars writes a float with its shortest round-trip digits (Python's repr) and reads text
    into a decimal rounding half-even. The scaled integer is built from the integer and
    fractional parts: multiplying the Decimal(38, 12) itself by 10^12 would overflow its type
    (and DuckDB's own text -> DECIMAL(38, 12) cast costs ~40 us a row).
    """
    dec = value.cast(pl.String).str.to_decimal(scale=12)
    whole = dec.cast(pl.Int128)
    frac = ((dec - whole.cast(pl.Decimal(38, 12))) * 10**12).cast(pl.Int128)
    return (whole * 10**12 + frac).cast(pl.Decimal(38, 0)).alias("value_e12")


def map_series(
    lines: pl.DataFrame, samples: pl.DataFrame, mapping: PrometheusMapping, uri: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The mapped series (SERIES_SCHEMA; a series on several lines takes its last line's
    metric type), the unmapped sample counts per metric and the rejects (mapped series
    without a customer)."""
    per_series = (
        lines.unique("series_key", keep="last")
        .join(samples.group_by("series_key").len("samples"), on="series_key")
        .sort("series_key")
    )
    mapped: list[dict[str, Any]] = []
    unmapped: dict[str, int] = {}
    rejects: list[dict[str, Any]] = []
    for key, metric, labels_json, metric_type, count in per_series.select(
        "series_key", "metric", "labels", "metric_type", "samples"
    ).iter_rows():
        labels: dict[str, str] = json.loads(labels_json)
        rule = mapping.rule_for(metric or "", labels)
        if rule is None:
            unmapped[metric or ""] = unmapped.get(metric or "", 0) + count
            continue
        customer_label = mapping.customer_of(rule)
        customer = labels.get(customer_label, "")
        if not customer:
            rejects.append(
                {
                    "source_uri": uri,
                    "source_row": None,
                    "column_name": customer_label,
                    "rule": "prometheus.customer.missing",
                    "reason": f"{count} samples of series {labels_json[:300]} have no "
                    f"{customer_label!r} label, which names the customer of meter "
                    f"{rule.meter}; add it (relabel_configs) or set customer_label",
                    "raw_record": labels_json[:2000],
                    "_samples": count,
                }
            )
            continue
        mapped.append(
            {
                "series_key": key,
                "metric": metric,
                "labels": labels_json,
                "metric_type": metric_type,
                "meter_name": rule.meter,
                "unit": rule.unit,
                "kind": rule.kind,
                "customer_id": customer,
                "dimensions": [
                    {"key": d, "value": labels[d]} for d in sorted(rule.dimensions) if d in labels
                ],
                "interval_ms": mapping.interval_ms(rule),
                "max_gap_ms": duration_ms(rule.max_gap),
                "divide_by": rule.divide_by,
                "per_ms": PER_MS[rule.per],
            }
        )
    series = pl.DataFrame(mapped, schema=SERIES_SCHEMA)
    counts = pl.DataFrame(
        {"metric": list(unmapped), "samples": list(unmapped.values())}, schema=UNMAPPED_SCHEMA
    )
    reject_frame = pl.DataFrame(rejects, schema={**dict(REJECT_SCHEMA), "_samples": pl.Int64})
    return series, counts, reject_frame


def out_of_range(samples: pl.DataFrame, series: pl.DataFrame, uri: str) -> pl.DataFrame:
    """One reject row per series whose values do not fit a quantity (26 integer digits)."""
    bad = samples.filter(pl.col("value_e12").is_null()).join(
        series.select("series_key", "labels"), on="series_key"
    )
    rows = [
        {
            "source_uri": uri,
            "source_row": None,
            "column_name": "value",
            "rule": "prometheus.value.range",
            "reason": f"{count} samples of series {labels[:300]} are beyond 26 integer digits "
            f"(e.g. {value!r}), more than a quantity holds; scale the metric down",
            "raw_record": labels[:2000],
            "_samples": count,
        }
        for labels, count, value in bad.group_by("labels")
        .agg(pl.len(), pl.col("value").first())
        .sort("labels")
        .iter_rows()
    ]
    return pl.DataFrame(rows, schema={**dict(REJECT_SCHEMA), "_samples": pl.Int64})


class PrometheusParser(FormatParser):
    """Remote-write objects the gateway landed (NDJSON of series lines, optionally gzip)."""

    formats: tuple[SourceFormat, ...] = (FORMAT,)

    def sniff_content(self, data: bytes, uri: str) -> SourceFormat | None:
        """NDJSON whose first line starts with the gateway's `{"labels":`."""
        return FORMAT if data.lstrip(b" \t\r\n").startswith(_HEAD) else None

    def parse(
        self, data: bytes, fmt: SourceFormat, uri: str, written_at: datetime, options: ParseOptions
    ) -> ParsedSource:
        """Mapped samples (with their series' meters), unmapped counts and rejects."""
        mapping = load_mapping(options.prometheus_mapping)
        lines, samples = read_samples(data, uri)
        if samples.height == 0:
            return no_rows(FORMAT)
        series, unmapped, rejects = map_series(lines, samples, mapping, uri)
        mapped = samples.join(series.select("series_key"), on="series_key", how="semi")
        kept = mapped.filter(pl.col("value_e12").is_not_null())
        rejects = pl.concat([rejects, out_of_range(mapped, series, uri)])
        if kept.height < mapped.height:  # a series whose every value was out of range
            series = series.join(kept.select("series_key"), on="series_key", how="semi")
        rejected = int(rejects["_samples"].sum()) if rejects.height else 0
        empty = no_rows(FORMAT)
        return ParsedSource(
            FORMAT,
            kept.height + rejected,
            empty.events,
            rejects.drop("_samples"),
            prometheus=PrometheusBatch(kept, series, unmapped, rejected),
        )
