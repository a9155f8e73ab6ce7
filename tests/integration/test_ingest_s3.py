"""Ingest against the real local S3 endpoint (HTTP) into a real DuckDB file."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.jobs.ingest import ingest
from etl.samples.amberflo import generate_amberflo_exports, summarize_exports
from etl.settings import Settings
from tests.conftest import BUCKET

pytestmark = [pytest.mark.integration]

MS = 1_790_000_000_000  # 2026-09-21T...Z


def _rec(uid: str | None, value: Any = 1.5, customer: str = "c1", meter: str = "gpu_hours", ms: int = MS, **dims: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"customerId": customer, "meterApiName": meter, "meterValue": value, "meterTimeInMillis": ms}
    if uid is not None:
        rec["uniqueId"] = uid
    if dims:
        rec["dimensions"] = dims
    return rec


def _ndjson(*records: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def _put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def _table_digest(settings: Settings) -> dict[str, str]:
    """A checksum of every table's content (ingestion timestamps excluded)."""
    out = {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for table, order in [
            ("meter_events", "event_id"),
            ("duplicate_events", "source_uri, source_row"),
            ("rejected_rows", "source_uri, source_row"),
            ("ingest_ledger", "source_uri"),
        ]:
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            keep = [c for c in cols if c not in ("ingested_at", "rejected_at", "loaded_at", "first_seen_at", "attempts", "run_started_at")]
            rows = con.execute(f"SELECT {', '.join(keep)} FROM {table} ORDER BY {order}").fetchall()  # noqa: S608 - fixed names
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def _q(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_generated_month_accounts_for_every_record_and_is_idempotent(s3: Any, settings: Settings) -> None:
    exports = generate_amberflo_exports(start=date(2026, 9, 1), days=5, customers=40, seed=11)
    for key, data in exports:
        _put(s3, key, data)
    summary = summarize_exports(exports)

    first = ingest([f"s3://{BUCKET}/ingest/"], settings)
    totals = first.totals()
    assert totals["files"] == summary.files and totals["failed"] == 0
    # every record is accounted for: rows in = loaded + duplicates + rejected
    assert totals["rows_in"] == summary.records
    assert totals["rows_in"] == totals["events_loaded"] + totals["duplicates"] + totals["rejected"]
    assert totals["events_loaded"] == summary.distinct_event_ids
    assert totals["duplicates"] == summary.duplicate_records > 0
    assert _q(settings, "SELECT count(*) - count(DISTINCT event_id) FROM meter_events") == [(0,)]
    digest = _table_digest(settings)

    second = ingest([f"s3://{BUCKET}/ingest/"], settings)
    assert second.files == []
    assert _table_digest(settings) == digest

    forced = ingest([f"s3://{BUCKET}/ingest/"], settings, force=True)
    assert forced.totals()["files"] == summary.files
    assert _table_digest(settings) == digest

    # the lake holds exactly the warehouse's events, one partition per day
    lake = settings.lake_path / "meter_events"
    assert sorted(p.name for p in lake.iterdir()) == [f"event_date=2026-09-0{d}" for d in range(1, 6)]
    with duckdb.connect() as con:
        lake_rows = con.execute(
            "SELECT count(*), sum(quantity) FROM read_parquet(?, hive_partitioning = true)", [f"{lake}/*/*.parquet"]
        ).fetchone()
    assert lake_rows == _q(settings, "SELECT count(*), sum(quantity) FROM meter_events")[0]


def test_same_event_in_two_files_is_stored_once(s3: Any, settings: Settings) -> None:
    _put(s3, "ingest/a.ndjson", _ndjson(_rec("u1"), _rec("u2")))
    _put(s3, "ingest/b.ndjson", _ndjson(_rec("u2"), _rec("u3"), _rec("u3")))
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    by_uri = {f.uri.rsplit("/", 1)[1]: f for f in report.files}
    assert (by_uri["a.ndjson"].events_loaded, by_uri["a.ndjson"].duplicates) == (2, 0)
    assert (by_uri["b.ndjson"].events_loaded, by_uri["b.ndjson"].duplicates) == (1, 2)
    assert _q(settings, "SELECT event_id, source_uri FROM meter_events ORDER BY 1") == [
        ("u1", f"s3://{BUCKET}/ingest/a.ndjson"),
        ("u2", f"s3://{BUCKET}/ingest/a.ndjson"),
        ("u3", f"s3://{BUCKET}/ingest/b.ndjson"),
    ]


def test_reuploaded_object_replaces_its_rows(s3: Any, settings: Settings) -> None:
    _put(s3, "ingest/a.ndjson", _ndjson(_rec("u1", 1), _rec("u2", 2)))
    _put(s3, "ingest/b.ndjson", _ndjson(_rec("u2", 2)))
    ingest([f"s3://{BUCKET}/ingest/"], settings)
    assert _q(settings, "SELECT sum(quantity) FROM meter_events")[0][0] == 3

    # a.ndjson re-uploaded with different content: u1 changes, u2 is gone from it
    _put(s3, "ingest/a.ndjson", _ndjson(_rec("u1", 10), _rec("u4", 4)))
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    assert [f.uri for f in report.files] == [f"s3://{BUCKET}/ingest/a.ndjson"]
    rows = _q(settings, "SELECT event_id, quantity, source_uri FROM meter_events ORDER BY 1")
    # u2 survives: the copy b.ndjson carried is promoted, not lost
    assert [(r[0], int(r[1]), r[2].rsplit("/", 1)[1]) for r in rows] == [
        ("u1", 10, "a.ndjson"),
        ("u2", 2, "b.ndjson"),
        ("u4", 4, "a.ndjson"),
    ]
    ledger = dict(
        (r[0].rsplit("/", 1)[1], r[1:]) for r in _q(settings, "SELECT source_uri, events_loaded, duplicates FROM ingest_ledger")
    )
    assert ledger == {"a.ndjson": (2, 0), "b.ndjson": (1, 0)}
    assert _q(settings, "SELECT count(*) FROM duplicate_events") == [(0,)]


def test_bad_file_fails_alone_with_a_reason_object(s3: Any, settings: Settings) -> None:
    _put(s3, "ingest/good.ndjson", _ndjson(_rec("u1"), _rec("u2", "abc")))
    _put(s3, "ingest/broken.json.gz", gzip.compress(b'[{"customerId": "c1"}, ')[:-6])
    report = ingest([f"s3://{BUCKET}/ingest/"], settings)
    status = {f.uri.rsplit("/", 1)[1]: f.status for f in report.files}
    assert status == {"good.ndjson": "loaded", "broken.json.gz": "failed"}
    assert _q(settings, "SELECT event_id FROM meter_events") == [("u1",)]
    assert _q(settings, "SELECT source_row, column_name, rule FROM rejected_rows") == [
        (2, "meterValue", "amberflo.meterValue.number")
    ]
    error = _q(settings, "SELECT error FROM ingest_ledger WHERE status = 'failed'")[0][0]
    assert "broken.json.gz" in error and "truncated" in error
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="failed-requests/")["Contents"]]
    assert len(keys) == 1 and keys[0].endswith("/ingest/broken.json.gz.reason.txt")
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().decode()
    assert "truncated" in body
    # the failed file is not retried until it changes
    assert ingest([f"s3://{BUCKET}/ingest/"], settings).files == []


def test_extensionless_amberflo_keys_detected_by_content(s3: Any, settings: Settings) -> None:
    _put(s3, "ingest/amberdata/09-21-2026/0f1e", gzip.compress(json.dumps([_rec("u1")]).encode()))
    _put(s3, "ingest/amberdata/09-21-2026/9a8b", _ndjson(_rec("u2"), _rec("u3")))
    report = ingest([f"s3://{BUCKET}/ingest/amberdata/"], settings)
    assert sorted((f.source_format, f.events_loaded) for f in report.files) == [
        ("amberflo_json", 1),
        ("amberflo_ndjson", 2),
    ]


def test_local_folder_and_file_sources(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "exports"
    (folder / "dt=2026-09-21").mkdir(parents=True)
    (folder / "dt=2026-09-21" / "a.csv").write_text(
        "customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId,team\n"
        f"c1,gpu_hours,1.25,{MS},u1,search\n"
    )
    single = tmp_path / "one.ndjson"
    single.write_bytes(_ndjson(_rec("u2", team="ads")))
    report = ingest([str(folder), str(single)], settings)
    assert report.totals()["events_loaded"] == 2
    assert _q(settings, "SELECT event_id, dimensions['team'] FROM meter_events ORDER BY 1") == [
        ("u1", "search"),
        ("u2", "ads"),
    ]
