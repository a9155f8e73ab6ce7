"""Runtime settings, read from the environment once per run (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """Where the warehouse lives and how strict ingestion is.

    Environment variables (all optional):
      METERHOUSE_WAREHOUSE      DuckDB file (default ./data/warehouse.duckdb)
      METERHOUSE_LAKE           Parquet lake folder (default: `lake/` beside the DuckDB file)
      METERHOUSE_REJECT_THRESHOLD  fraction of rejected rows above which a file fails (default 0.5)
      METERHOUSE_MAX_OBJECT_BYTES  largest decompressed object accepted (default 64 GiB); CSV and
                                NDJSON stream through in chunks, so this guards the disk and
                                against gzip bombs, not memory
      METERHOUSE_MAX_WHOLE_BYTES   largest decompressed JSON array or FOCUS Parquet object, which
                                are read whole into memory (default 4 GiB)
      METERHOUSE_BATCH_FILES / METERHOUSE_BATCH_BYTES  batch sizes for Airflow task mapping
      METERHOUSE_FOCUS_CUSTOMER_FROM  FOCUS column that names the customer: SubAccountId (default,
                                falling back to BillingAccountId) or BillingAccountId
      METERHOUSE_GROUP_ROWS / METERHOUSE_GROUP_FILES  small files committed together per
                                transaction (default 200000 events / 500 files)
      METERHOUSE_CHUNK_BYTES    a CSV/NDJSON/FOCUS CSV export larger than this once decompressed
                                (default 64 MiB) streams through in chunks, so memory does not
                                grow with the file
      METERHOUSE_CHUNK_ROWS     about how many rows such a chunk holds (default 200000; a chunk is
                                never larger than METERHOUSE_CHUNK_BYTES)
      METERHOUSE_FOCUS_CHUNK_ROWS  the same for FOCUS CSV, whose rows are wide (default 25000); a
                                FOCUS CSV export of more rows streams in chunks too
      METERHOUSE_SPOOL_DIR      where objects over METERHOUSE_CHUNK_BYTES are downloaded to while
                                they load (default: the system temp folder)
      METERHOUSE_DUCKDB_MEMORY_LIMIT  DuckDB's memory limit for loads (default 1GB); it spills beyond
      METERHOUSE_DEDUP_WINDOW_DAYS  an event_id already stored for an event date within this many
                                days is a duplicate (default 31); a retry repeats its event time
      METERHOUSE_FOCUS_DELIVERY_WINDOW  seconds within which FOCUS files of one export belong to
                                one delivery (default 3600); older deliveries of a period are replaced
    """

    warehouse_path: Path
    lake_path: Path
    reject_threshold: float = 0.5
    max_object_bytes: int = 64 * 1024**3
    max_whole_bytes: int = 4 * 1024**3
    batch_files: int = 2000
    batch_bytes: int = 512 * 1024**2
    focus_customer_from: str = "SubAccountId"
    focus_delivery_window_s: int = 3600
    dedup_window_days: int = 31
    group_rows: int = 200_000
    group_files: int = 500
    duckdb_memory_limit: str = "1GB"
    chunk_bytes: int = 64 * 1024**2
    chunk_rows: int = 200_000
    focus_chunk_rows: int = 25_000
    spool_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, warehouse: str | os.PathLike[str] | None = None) -> Settings:
        """Build settings from the environment; an explicit warehouse path wins."""
        wh = Path(
            warehouse
            or os.environ.get("METERHOUSE_WAREHOUSE")
            or DEFAULT_DATA_DIR / "warehouse.duckdb"
        )
        lake_env = os.environ.get("METERHOUSE_LAKE")
        lake = Path(lake_env) if lake_env and warehouse is None else wh.parent / "lake"
        return cls(
            warehouse_path=wh,
            lake_path=lake,
            reject_threshold=_env_float("METERHOUSE_REJECT_THRESHOLD", 0.5),
            max_object_bytes=_env_int("METERHOUSE_MAX_OBJECT_BYTES", 64 * 1024**3),
            max_whole_bytes=_env_int("METERHOUSE_MAX_WHOLE_BYTES", 4 * 1024**3),
            batch_files=_env_int("METERHOUSE_BATCH_FILES", 2000),
            batch_bytes=_env_int("METERHOUSE_BATCH_BYTES", 512 * 1024**2),
            focus_customer_from=os.environ.get("METERHOUSE_FOCUS_CUSTOMER_FROM", "SubAccountId"),
            focus_delivery_window_s=_env_int("METERHOUSE_FOCUS_DELIVERY_WINDOW", 3600),
            dedup_window_days=_env_int("METERHOUSE_DEDUP_WINDOW_DAYS", 31),
            group_rows=_env_int("METERHOUSE_GROUP_ROWS", 200_000),
            group_files=_env_int("METERHOUSE_GROUP_FILES", 500),
            duckdb_memory_limit=os.environ.get("METERHOUSE_DUCKDB_MEMORY_LIMIT", "1GB"),
            chunk_bytes=_env_int("METERHOUSE_CHUNK_BYTES", 64 * 1024**2),
            chunk_rows=_env_int("METERHOUSE_CHUNK_ROWS", 200_000),
            focus_chunk_rows=_env_int("METERHOUSE_FOCUS_CHUNK_ROWS", 25_000),
            spool_dir=Path(os.environ["METERHOUSE_SPOOL_DIR"])
            if os.environ.get("METERHOUSE_SPOOL_DIR")
            else None,
        )
