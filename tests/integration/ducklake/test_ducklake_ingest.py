"""`meterhouse ingest` into a DuckLake (catalog in Postgres, Parquet in S3): the same ledger,
rejects, duplicates and exactly-once reruns as the DuckDB file; `meterhouse sql` and status
read it; a plain DuckDB with the extensions attaches it read-only."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from etl.cli import main as cli
from etl.jobs.ingest import ingest
from etl.settings import Settings
from etl.warehouse import Warehouse, transaction
from etl.warehouse.ducklake import (
    connect_lake,
    extension_file,
    is_commit_conflict,
    serialized,
)
from tests.conftest import BUCKET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MS = 1_790_000_000_000
SOURCE = f"s3://{BUCKET}/ingest/"


def _rec(uid: str, value: Any = "1.5", ms: int = MS) -> dict[str, Any]:
    return {
        "customerId": "c1",
        "meterApiName": "gpu_hours",
        "meterValue": value,
        "meterTimeInMillis": ms,
        "uniqueId": uid,
        "dimensions": {"team": "ml"},
    }


def _put_inputs(s3: Any) -> None:
    def put(key: str, *records: dict[str, Any]) -> None:
        body = "\n".join(json.dumps(r) for r in records).encode()
        s3.put_object(Bucket=BUCKET, Key=f"ingest/{key}", Body=body)

    # a.ndjson and b.ndjson share e2 (same content) and e3 (b's value differs: a conflict)
    put("a.ndjson", *(_rec(f"e{i}", f"{i}.125") for i in range(12)))
    put("b.ndjson", _rec("e2", "2.125"), _rec("e3", "9"), *(_rec(f"f{i}") for i in range(11)))
    put("c.ndjson", _rec("g1", "not a number"), *(_rec(f"g{i}", "0.5") for i in range(2, 14)))
    s3.put_object(Bucket=BUCKET, Key="ingest/broken.json", Body=b'[{"customerId": ')


QUERIES = {
    "events": "SELECT count(*), count(DISTINCT event_id), sum(quantity) FROM meter_events",
    "stored": "SELECT event_id, source_uri, quantity, dimensions FROM meter_events ORDER BY ALL",
    "duplicates": "SELECT event_id, source_uri, duplicate_of_uri, conflict FROM duplicate_events ORDER BY ALL",
    "rejects": "SELECT source_uri, source_row, column_name, rule FROM rejected_rows ORDER BY ALL",
    "ledger": """SELECT source_uri, status, rows_in, events_loaded, duplicates, rejected,
                        error IS NOT NULL FROM ingest_ledger ORDER BY source_uri""",
}


def _read(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    wh = Warehouse(settings.warehouse_path, settings.lake_path, ducklake=settings.ducklake)
    return {name: wh.query_published(sql)[1] for name, sql in QUERIES.items()}


def test_ingest_into_ducklake_equals_the_duckdb_file(
    s3: Any, ducklake_env: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_inputs(s3)
    lake = Settings.from_env()
    first = ingest([SOURCE], lake)
    assert sorted((f.uri.rsplit("/", 1)[1], f.status) for f in first.files) == [
        ("a.ndjson", "loaded"),
        ("b.ndjson", "loaded"),
        ("broken.json", "failed"),
        ("c.ndjson", "loaded"),
    ]
    on_lake = _read(lake)
    # the data files are Parquet in the bucket, not in the catalog
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="lake/")["Contents"]]
    assert any(k.startswith("lake/main/meter_events/") and k.endswith(".parquet") for k in keys)

    # A rerun loads nothing (ledger), a forced rerun replaces: the warehouse is identical.
    assert ingest([SOURCE], lake).files == []
    ingest([SOURCE], lake, force=True)
    assert _read(lake) == on_lake

    for name in ducklake_env:
        monkeypatch.delenv(name)
    file = Settings.from_env(tmp_path / "file" / "warehouse.duckdb")
    ingest([SOURCE], file)
    assert on_lake == _read(file)
    count, distinct, total = on_lake["events"][0]
    assert (count, distinct) == (38 - 2 - 1, 35)  # 38 rows, 2 duplicates, 1 reject
    assert [r[3] for r in on_lake["duplicates"]] == [False, True]
    assert on_lake["rejects"][0][:3] == (f"{SOURCE}c.ndjson", 1, "meterValue")


def test_cli_sql_and_status_read_the_ducklake(
    s3: Any, ducklake_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _put_inputs(s3)
    assert cli(["ingest", SOURCE]) == 0
    capsys.readouterr()
    assert cli(["sql", "SELECT count(*) AS n FROM meter_events"]) == 0
    assert capsys.readouterr().out.split()[-1] == "35"
    assert cli(["sql", "DELETE FROM meter_events"]) == 2  # the read path runs one SELECT only
    assert cli(["status"]) == 0
    out = capsys.readouterr().out
    assert f"warehouse ducklake s3://{BUCKET}/lake/" in out
    assert "meter_events: 35 events" in out


def test_any_duckdb_attaches_it_read_only(s3: Any, ducklake_env: dict[str, str]) -> None:
    _put_inputs(s3)
    ingest([SOURCE], Settings.from_env())
    con = duckdb.connect()
    con.execute(f"LOAD '{extension_file('ducklake')}'")
    con.execute(f"LOAD '{extension_file('httpfs')}'")
    settings = Settings.from_env().ducklake
    assert settings is not None
    # the postgres extension under its entry point's name (connect_lake makes the link)
    connect_lake(settings, read_only=True).close()
    from etl.warehouse.ducklake import postgres_extension

    con.execute(f"LOAD '{postgres_extension()}'")
    endpoint = settings.s3_endpoint_url or ""
    con.execute("SET s3_endpoint = ?", [endpoint.removeprefix("http://")])
    con.execute("SET s3_use_ssl = false")
    con.execute("SET s3_url_style = 'path'")
    con.execute("SET s3_access_key_id = 'test'")
    con.execute("SET s3_secret_access_key = 'test'")
    con.execute(
        f"ATTACH 'ducklake:postgres:{settings.catalog}' AS usage (READ_ONLY)"  # noqa: S608 - test DSN
    )
    assert con.execute("SELECT count(*) FROM usage.meter_events").fetchone() == (35,)
    with pytest.raises(duckdb.Error, match="read-only|READ_ONLY|attached in read-only"):
        con.execute("DELETE FROM usage.meter_events")


def test_a_commit_conflict_is_retried(s3: Any, ducklake_env: dict[str, str]) -> None:
    """Two connections delete the same rows; the one that commits second conflicts, and
    `serialized` runs its transaction again on the new snapshot instead of failing."""
    settings = Settings.from_env().ducklake
    assert settings is not None
    one, two = connect_lake(settings), connect_lake(settings)
    one.execute("CREATE TABLE t AS SELECT range AS x FROM range(100)")
    attempts = []

    def delete_some() -> int:
        attempts.append(1)
        with transaction(one):
            one.execute("DELETE FROM t WHERE x < 10")
            if len(attempts) == 1:  # another writer deletes the same rows and commits first
                two.execute("DELETE FROM t WHERE x < 5")
        return int(one.execute("SELECT count(*) FROM t").fetchone()[0])

    assert serialized(settings, delete_some, wait_s=0.01) == 90
    assert len(attempts) == 2

    # The first attempt's failure is what DuckLake raises on a conflict.
    two.execute("BEGIN")
    two.execute("DELETE FROM t WHERE x = 50")
    one.execute("DELETE FROM t WHERE x = 50")
    with pytest.raises(duckdb.Error) as caught:
        two.execute("COMMIT")
    assert is_commit_conflict(caught.value)
