"""Helpers shared by the bad-input, fault and property tests: records, uploads, table digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import BUCKET

MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
DAY_MS = 86_400_000
# Columns that hold when a row was written, not what it holds: two equal loads differ only here.
VOLATILE_COLUMNS = {
    "ingested_at", "rejected_at", "loaded_at", "first_seen_at", "attempts", "found_at",
    "reconciled_at",
}


def rec(uid: str | None, value: Any = 1.5, *, ms: int = MS, **fields: Any) -> dict[str, Any]:
    """An Amberflo meter record; `fields` override or add top-level keys."""
    out: dict[str, Any] = {
        "customerId": "c1",
        "meterApiName": "gpu_hours",
        "meterValue": value,
        "meterTimeInMillis": ms,
    }
    if uid is not None:
        out["uniqueId"] = uid
    out.update(fields)
    return out


def ndjson(*records: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def local_exports(tmp_path: Path) -> tuple[Path, Any]:
    """A local export folder and the settings of a fresh warehouse beside it."""
    from etl.settings import Settings

    src = tmp_path / "exports"
    src.mkdir()
    return src, Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")


def write_local(folder: Path, name: str, *records: dict[str, Any]) -> None:
    """An NDJSON export in a local folder, written an hour after MS (its records' time)."""
    path = folder / name
    path.write_bytes(ndjson(*records) + b"\n")
    os.utime(path, (MS / 1000 + 3600, MS / 1000 + 3600))


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def q(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


def _digest_rows(con: Any, relation: str, columns: list[str]) -> str:
    keep = [f'"{c}"' for c in columns if c not in VOLATILE_COLUMNS]
    rows = con.execute(f"SELECT {', '.join(keep)} FROM {relation} ORDER BY ALL").fetchall()  # noqa: S608 - names from the catalog
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def warehouse_digest(warehouse: Path) -> dict[str, str]:
    """A checksum of every table in the warehouse file (write timestamps excluded)."""
    out: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        for table in tables:
            cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            out[table] = _digest_rows(con, f'"{table}"', cols)
    return out


def lake_digest(lake: Path) -> dict[str, str]:
    """A checksum of every table of the lake (write timestamps excluded): one per folder of
    Parquet files, so a partition split over several part files digests as their union."""
    out: dict[str, str] = {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for folder in sorted({p.parent for p in lake.rglob("*.parquet")}):
            relation = f"read_parquet('{folder}/*.parquet')"
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]  # noqa: S608 - a test's own temp path
            out[str(folder.relative_to(lake))] = _digest_rows(con, relation, cols)
    return out


def bucket_keys(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(keys)


def read_key(s3: Any, key: str) -> str:
    return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())
