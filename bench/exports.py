"""Fast, deterministic bulk writer of benchmark exports (DuckDB COPY, no Python loop per row).

`etl.samples.amberflo` is the realistic generator for tests and demos, but it builds every record in
Python (~10^5 records/s); the benchmark needs 10-50M. This writer computes every field with
integer arithmetic on the row number inside DuckDB, so the same (size, format, seed) always gives
byte-identical files, at a few million rows per second on two cores.

What the files hold, row i of n (0-based, events spread evenly over `days` days):
- Amberflo fields `customerId`, `meterApiName`, `meterValue` (3 decimals), `meterTimeInMillis`,
  `uniqueId` (a UUID-shaped id) and the dimensions datacenter, rack, cluster, team, project,
  gpu_model (GPU meters only; power has no project/cluster, so CSV cells are empty there).
- ~1% duplicates: a row with i % 100 == 50 is an exact copy of an earlier row (150,001 rows back,
  so most retries land in another file), as a retrying exporter sends them.
- ~0.5% without `uniqueId` (the loader hashes their content), ~0.1% invalid rows (empty
  customerId, negative or non-numeric meterValue) that both sides must reject. Retries never
  copy an invalid row, so the expected counts are exact.
"""

# SQL here is spliced only from this package's constants, integers and the cache's own paths
# (COPY targets cannot be parameters), never from data read from the exports.
# ruff: noqa: S608

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
MS_PER_DAY = 86_400_000
METERS = (
    "gpu_hours",
    "cpu_core_hours",
    "memory_gb_hours",
    "storage_gb_months",
    "backup_gb_months",
    "network_egress_gb",
    "network_ingress_gb",
    "power_kwh",
    "object_requests",
    "public_ip_hours",
)
DIMENSIONS = ("datacenter", "rack", "cluster", "team", "project", "gpu_model")
CSV_HEADER = (
    "customerId",
    "meterApiName",
    "meterValue",
    "meterTimeInMillis",
    "uniqueId",
    *DIMENSIONS,
)


def row_hashes(first: int, seed: int) -> str:
    """The body of the `mixed` CTE: two deterministic pseudo-random hashes (h1, h2) per source
    row `src` of `idx`, from which every field of a generated row is derived."""
    return f"""
        SELECT i, src,
               ((((src + {first}) * 2654435761 + {seed} * 97531) % 4294967291) * 1103515245 + 12345) % 2147483648 AS h1,
               ((((src + {first}) * 2246822519 + {seed} * 3266489917) % 4294967291) * 1103515245 + 54321) % 2147483648 AS h2
        FROM idx"""


@dataclass(frozen=True)
class ExportSpec:
    """What to write: `events` rows in files of `file_events`, ids starting at `first_id`."""

    events: int
    fmt: str  # csv | ndjson | focus
    seed: int = 7
    file_events: int = 1_000_000
    days: int = 30
    first_id: int = 0  # offset of row numbers: incremental batches use a fresh id range

    def key(self) -> str:
        return f"{self.fmt}-{self.events}-s{self.seed}-f{self.file_events}-o{self.first_id}"


def _rows_sql(spec: ExportSpec, lo: int, hi: int) -> str:
    """SQL producing rows [lo, hi) of the export, every field derived from the row number.

    Only integers from the spec are spliced (never data), so the f-string is safe.
    """
    n, seed, first = spec.events, spec.seed, spec.first_id
    span = spec.days * MS_PER_DAY
    meters = "[" + ", ".join(f"'{m}'" for m in METERS) + "]"
    return f"""
    WITH idx AS (
        SELECT i, CASE WHEN i % 100 = 50 THEN (CASE WHEN i >= 150001 THEN i - 150001 ELSE i - 1 END)
                       ELSE i END AS src
        FROM range({lo}, {hi}) t(i)
    ), mixed AS ({row_hashes(first, seed)}
    ), rec AS (
        SELECT i, src, h1, h2,
               {meters}[1 + (h1 % 10)] AS meter,
               'cust-' || lpad(((h1 // 10) % 500)::VARCHAR, 4, '0') AS customer,
               ((h2 % 5000000) / 1000.0)::DECIMAL(18, 3) AS value,
               {START_MS} + (src * {span}) // {n} + (h2 // 5000000) % 60000 AS ms,
               md5(({first} + src)::VARCHAR || '-{seed}') AS digest
        FROM mixed
    )
    SELECT i, src, meter,
           CASE WHEN src % 1000 = 999 AND (src // 1000) % 3 = 0 THEN '' ELSE customer END AS customer,
           CASE WHEN src % 1000 = 999 AND (src // 1000) % 3 = 1 THEN '-' || value::VARCHAR
                WHEN src % 1000 = 999 AND (src // 1000) % 3 = 2 THEN 'n/a'
                ELSE value::VARCHAR END AS value_text,
           CASE WHEN src % 1000 = 999 AND (src // 1000) % 3 = 1 THEN -value ELSE value END AS value_num,
           src % 1000 = 999 AND (src // 1000) % 3 = 2 AS value_not_number,
           ms,
           CASE WHEN src % 200 = 123 THEN NULL
                ELSE substr(digest, 1, 8) || '-' || substr(digest, 9, 4) || '-' || substr(digest, 13, 4)
                     || '-' || substr(digest, 17, 4) || '-' || substr(digest, 21, 12) END AS unique_id,
           ['fra1', 'ams2', 'iad1', 'sjc1', 'lon1', 'sin1'][1 + (h1 // 5000) % 6] AS datacenter,
           'r' || lpad(((h1 // 30000) % 40)::VARCHAR, 2, '0') AS rack,
           CASE WHEN meter = 'power_kwh' THEN NULL
                ELSE ['prod', 'staging', 'dev'][1 + (h2 // 7) % 3] || '-' || ((h2 // 21) % 8)::VARCHAR END AS cluster,
           ['ml-research', 'search', 'payments', 'data-platform', 'recommendations', 'video',
            'security', 'mobile', 'analytics', 'infra'][1 + (h1 // 5000) % 10] AS team,
           CASE WHEN meter = 'power_kwh' THEN NULL
                ELSE ['train', 'serve', 'etl', 'lake', 'api', 'batch', 'web', 'index', 'eval', 'ci'][1 + (h2 // 168) % 10]
                     || '-' || ((h1 // 7) % 50)::VARCHAR END AS project,
           CASE WHEN meter = 'gpu_hours'
                THEN ['H100-SXM-80GB', 'A100-SXM-80GB', 'L40S-48GB', 'A10-24GB'][1 + (h2 // 11) % 4] END AS gpu_model
    FROM rec ORDER BY i
    """


def _copy_csv(con: Any, spec: ExportSpec, lo: int, hi: int, path: Path) -> None:
    con.execute(
        f"""COPY (SELECT customer AS customerId, meter AS meterApiName, value_text AS meterValue,
                         ms::VARCHAR AS meterTimeInMillis, unique_id AS uniqueId,
                         {", ".join(DIMENSIONS)}
                  FROM ({_rows_sql(spec, lo, hi)})) TO '{path}' (FORMAT csv, HEADER true)"""
    )


def _copy_ndjson(con: Any, spec: ExportSpec, lo: int, hi: int, path: Path) -> None:
    dims = ", ".join(f"struct_pack(key := '{d}', value := {d})" for d in DIMENSIONS)
    con.execute(
        f"""COPY (SELECT customer AS customerId, meter AS meterApiName,
                         CASE WHEN value_not_number THEN to_json(value_text) ELSE to_json(value_num) END AS meterValue,
                         ms AS meterTimeInMillis, unique_id AS uniqueId,
                         map_from_entries(list_filter([{dims}], e -> e.value IS NOT NULL)) AS dimensions
                  FROM ({_rows_sql(spec, lo, hi)})) TO '{path}' (FORMAT json)"""
    )


def write_exports(spec: ExportSpec, cache: Path) -> Path:
    """The folder holding `spec`'s files, written once into `cache` and reused afterwards."""
    import duckdb

    folder = cache / "exports" / spec.key()
    done = folder / "_manifest.json"
    if done.exists():
        return folder / "data"
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    files = []
    for part, lo in enumerate(range(0, spec.events, spec.file_events)):
        hi = min(lo + spec.file_events, spec.events)
        if spec.fmt == "csv":
            path = data / f"usage-{part:05d}.csv"
            _copy_csv(con, spec, lo, hi, path)
        elif spec.fmt == "ndjson":
            path = data / f"usage-{part:05d}.ndjson"
            _copy_ndjson(con, spec, lo, hi, path)
        elif spec.fmt == "focus":
            from bench.focus_exports import copy_focus

            path = data / f"focus-{part:05d}.csv"
            copy_focus(con, spec, lo, hi, path)
        else:
            raise ValueError(f"unknown format {spec.fmt!r}: csv, ndjson or focus")
        files.append(path.name)
    con.close()
    done.write_text(json.dumps({**asdict(spec), "files": files}, indent=1))
    return data
