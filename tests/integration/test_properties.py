"""Property: over generated files of good, bad and repeated records, every row is accounted
for (rows in = loaded + duplicates + rejected), the counts match an independent model, and the
warehouse never holds an event_id twice."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.conftest import BUCKET
from tests.integration._support import DAY_MS, MS, q

pytestmark = [pytest.mark.integration]

FIELDS = ["customerId", "meterApiName", "meterValue", "meterTimeInMillis", "uniqueId"]

# Each way of breaking a record, as a change to a good one; all are rejected by some rule.
BREAKAGES: dict[str, Any] = {
    "no customer": lambda r: r.pop("customerId"),
    "value abc": lambda r: r.update(meterValue="abc"),
    "negative": lambda r: r.update(meterValue="-3"),
    "nan": lambda r: r.update(meterValue="NaN"),
    "seconds": lambda r: r.update(meterTimeInMillis=str(MS // 1000)),
    "before 2000": lambda r: r.update(meterTimeInMillis="915148800000"),
    "future": lambda r: r.update(meterTimeInMillis="1893456000000"),
}

good_record = st.fixed_dictionaries(
    {
        "customerId": st.sampled_from(["c1", "c2", "c3"]),
        "meterApiName": st.sampled_from(["gpu_hours", "storage_gb"]),
        "meterValue": st.sampled_from(["0", "1", "2.5", "10"]),
        "meterTimeInMillis": st.integers(0, 3).map(lambda d: str(MS + d * DAY_MS)),
        # a small pool of ids, so that duplicates within and across files are common;
        # None: no uniqueId, the id is a hash of the content
        "uniqueId": st.one_of(st.none(), st.sampled_from([f"u{i}" for i in range(8)])),
    }
)
record = st.tuples(good_record, st.one_of(st.none(), st.sampled_from(sorted(BREAKAGES))))
a_file = st.tuples(st.sampled_from(["ndjson", "json", "csv"]), st.lists(record, min_size=0, max_size=12))


def _render(fmt: str, records: list[dict[str, Any]]) -> bytes:
    if fmt == "ndjson":
        return "\n".join(json.dumps(r) for r in records).encode()
    if fmt == "json":
        return json.dumps(records).encode()
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def _identity(r: dict[str, Any]) -> Any:
    if r.get("uniqueId"):
        return r["uniqueId"]
    return (r["customerId"], r["meterApiName"], Decimal(r["meterValue"]), r["meterTimeInMillis"])


def _csv_safe(r: dict[str, Any]) -> dict[str, Any]:
    return {k: ("" if v is None else v) for k, v in r.items() if k in FIELDS}


@pytest.fixture(scope="module")
def client(s3_server: str) -> Any:
    import boto3
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return s3


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(a_file, min_size=1, max_size=3))
def test_rows_are_accounted_for_and_event_ids_are_unique(client: Any, files: list[Any]) -> None:
    prefix = f"prop/{uuid.uuid4().hex}/"
    expected_rejected = expected_loaded = expected_dups = rows = 0
    seen: set[Any] = set()
    for n, (fmt, recs) in enumerate(files):
        records = []
        rejected = 0
        for good, breakage in recs:
            r = {k: v for k, v in good.items() if v is not None}
            if breakage:
                BREAKAGES[breakage](r)
                rejected += 1
            records.append(_csv_safe(r) if fmt == "csv" else r)
        # the default reject threshold (50%) fails a mostly bad file whole
        file_ok = not records or rejected / len(records) <= 0.5
        client.put_object(Bucket=BUCKET, Key=f"{prefix}f{n}.{fmt}", Body=_render(fmt, records))
        if not file_ok:
            continue
        rows += len(records)
        expected_rejected += rejected
        for (good, breakage) in recs:
            if breakage:
                continue
            ident = _identity({k: v for k, v in good.items() if v is not None})
            if ident in seen:
                expected_dups += 1
            else:
                seen.add(ident)
                expected_loaded += 1
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Settings.from_env(Path(tmp) / "warehouse.duckdb")
        report = ingest([f"s3://{BUCKET}/{prefix}"], cfg)
        totals = report.totals()
        assert totals["rows_in"] == totals["events_loaded"] + totals["duplicates"] + totals["rejected"]
        assert (totals["rows_in"], totals["events_loaded"], totals["duplicates"], totals["rejected"]) == (
            rows,
            expected_loaded,
            expected_dups,
            expected_rejected,
        )
        wh = cfg.warehouse_path
        assert q(wh, "SELECT count(*) - count(DISTINCT event_id) FROM meter_events") == [(0,)]
        assert q(wh, "SELECT count(*) FROM meter_events") == [(expected_loaded,)]
        assert q(wh, "SELECT coalesce(sum(rows_in - events_loaded - duplicates - rejected), 0) FROM ingest_ledger") == [(0,)]
