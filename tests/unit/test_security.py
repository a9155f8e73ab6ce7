"""Security: no credentials in the repo, object keys never escape, values never become SQL,
the SQL read path cannot write, the embedded stack listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.errors import TerminalError
from etl.jobs.ingest import ingest
from etl.jobs.load import reason_key
from etl.lake import QueryRefused
from etl.settings import Settings
from etl.sources.stores import LocalStore, S3Config
from etl.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
MS = 1_790_000_000_000

# Patterns of real secrets (AWS access key ids, secret keys assigned in code, private keys,
# tokens of common services). The local emulator's dummy `test` credentials match none.
SECRET_PATTERNS = {
    "aws access key id": re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "aws secret key": re.compile(
        r"(?i)aws_?secret_?access_?key\W{1,4}[\"']?[A-Za-z0-9/+=]{40}\b"
    ),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "github token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b"),
}


def _tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and (ROOT / name).is_file()]


def test_no_credentials_in_the_repository() -> None:
    files = _tracked_files()
    assert len(files) > 20
    found = []
    for path in files:
        if path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "ignore")
        for name, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(ROOT)}: {name}: {match.group(0)[:12]}...")
    assert found == []


def test_the_scan_would_catch_a_planted_key() -> None:
    # built at run time, so this file holds no key for the scan above to find
    planted = "aws_secret_access_key = '" + "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY'\n" + "AKIA" + "IOSFODNN7EXAMPLE"
    assert SECRET_PATTERNS["aws secret key"].search(planted)
    assert SECRET_PATTERNS["aws access key id"].search(planted)


def test_s3_credentials_come_only_from_the_environment_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FROM-THE-ENVIRONMENT")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    config = S3Config.from_env()
    # nothing is copied into code-held settings: boto3's own chain reads the environment
    assert (config.access_key_id, config.secret_access_key, config.session_token) == (None, None, None)
    assert config.endpoint_url == "http://127.0.0.1:9"
    assert "FROM-THE-ENVIRONMENT" not in repr(config)


def test_secrets_never_reach_logs_reports_or_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-VALUE-that-must-never-be-logged"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "KEY-ID-MUST-NOT-BE-LOGGED")
    caplog.set_level("DEBUG")
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "bad.gz").write_bytes(b"\x1f\x8bnot gzip")
    (folder / "good.ndjson").write_text(json.dumps(_rec("u1")))
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    report = ingest([str(folder)], settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        ledger = con.execute("SELECT * FROM ingest_ledger").fetchall()
    reason = (folder / "failed-requests").rglob("*.reason.txt")
    haystack = caplog.text + repr(report) + repr(ledger) + "".join(p.read_text() for p in reason)
    assert secret not in haystack and "KEY-ID-MUST-NOT-BE-LOGGED" not in haystack


# -- object keys are data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "/tmp/x", "..", "a/b/../../../x"],
)
def test_local_store_keys_never_escape_the_root(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    store = LocalStore(root)
    with pytest.raises(TerminalError, match="escapes the store root"):
        store.write(key, b"data")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [Path("root")]


@pytest.mark.parametrize(
    "key",
    [
        "ingest/../../../etc/cron.d/x",
        "/abs/olute.json",
        "..",
        "ingest/./a//b",
        "ingest/odd \u202e\u0000\ttab;'\"`$(x).json",
    ],
)
def test_reason_objects_stay_under_failed_requests(tmp_path: Path, key: str) -> None:
    from datetime import UTC, datetime

    reason = reason_key(key, datetime(2026, 9, 21, tzinfo=UTC))
    assert reason.startswith("failed-requests/2026-09-21/") and reason.endswith(".reason.txt")
    parts = reason.split("/")
    assert ".." not in parts and "." not in parts and "" not in parts
    # and written through a local store, it lands inside the root
    root = tmp_path / "bucket"
    root.mkdir()
    written = Path(LocalStore(root).write(reason.replace("\0", "_"), b"why"))
    assert root.resolve() in written.resolve().parents


# -- values from files are never spliced into SQL -----------------------------------------------


def _rec(uid: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "customerId": "c1",
        "meterApiName": "gpu_hours",
        "meterValue": 1,
        "meterTimeInMillis": MS,
        "uniqueId": uid,
    }
    out.update(fields)
    return out


HOSTILE = [
    "x'); DROP TABLE meter_events; --",
    "'; DELETE FROM ingest_ledger WHERE '1'='1",
    'Robert"); DROP TABLE rejected_rows;--',
    "$$; ATTACH 'evil.db' AS evil; --",
    "\\'; COPY meter_events TO '/tmp/leak.csv'; --",
]


def test_hostile_values_are_stored_verbatim_and_every_table_survives(tmp_path: Path) -> None:
    folder = tmp_path / "exp'orts; DROP TABLE x"
    folder.mkdir()
    records = [
        _rec(
            f"id-{i}-{value}",
            customerId=value,
            meterApiName=f"meter{value}",
            dimensions={value[:100]: value, "team's \"name\"": value},
        )
        for i, value in enumerate(HOSTILE)
    ]
    name = "o'brien\"; DROP TABLE ingest_ledger; --.ndjson"
    (folder / name).write_text("\n".join(json.dumps(r) for r in records))
    csv_rows = "\n".join(
        f'"{v.replace(chr(34), chr(34) * 2)}",gpu_hours,1,{MS},csv-{i},"{v.replace(chr(34), chr(34) * 2)}"'
        for i, v in enumerate(HOSTILE)
    )
    (folder / "b.csv").write_text(f"customerId,meterApiName,meterValue,meterTimeInMillis,uniqueId,team'; DROP TABLE meter_events; --\n{csv_rows}\n")
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    report = ingest([str(folder)], settings)
    assert report.totals()["failed"] == 0
    assert report.totals()["events_loaded"] == 2 * len(HOSTILE)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"meter_events", "ingest_ledger", "rejected_rows", "duplicate_events"} <= tables
        stored = con.execute(
            "SELECT customer_id, meter_name, dimensions, source_uri FROM meter_events "
            "WHERE source_format = 'amberflo_ndjson' ORDER BY event_id"
        ).fetchall()
        csv_stored = con.execute(
            "SELECT customer_id, dimensions FROM meter_events WHERE source_format = 'amberflo_csv' ORDER BY event_id"
        ).fetchall()
        ledger = con.execute("SELECT source_key FROM ingest_ledger ORDER BY 1").fetchall()
    expected = sorted(
        (r["uniqueId"], r["customerId"], r["meterApiName"], r["dimensions"]) for r in records
    )
    assert [(s[0], s[1], s[2]) for s in stored] == [(e[1], e[2], e[3]) for e in expected]
    assert {s[3] for s in stored} == {str((folder / name).resolve())}
    assert csv_stored == [(v, {"team'; DROP TABLE meter_events; --": v}) for v in HOSTILE]
    assert ledger == [("b.csv",), (name,)]


# -- the SQL read path is read-only -----------------------------------------------------------


@pytest.fixture
def loaded_warehouse(tmp_path: Path) -> Settings:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.ndjson").write_text(json.dumps(_rec("u1")))
    settings = Settings.from_env(tmp_path / "wh" / "warehouse.duckdb")
    ingest([str(folder)], settings)
    return settings


def _sql_cli(settings: Settings, query: str) -> int:
    from etl.cli import main

    try:
        return main(["sql", query, "--warehouse", str(settings.warehouse_path)])
    except duckdb.Error:
        return 99


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE meter_events",
        "DELETE FROM meter_events",
        "UPDATE meter_events SET quantity = 0",
        "INSERT INTO ingest_ledger SELECT * FROM ingest_ledger",
        "CREATE TABLE evil AS SELECT 1",
        "ALTER TABLE meter_events RENAME TO gone",
        "COPY (SELECT 1 AS x) TO '{warehouse}' (FORMAT csv)",
        "ATTACH '{warehouse}' AS rw; DROP TABLE rw.meter_events",
        "SET access_mode = 'READ_WRITE'; DROP TABLE meter_events",
    ],
)
def test_sql_users_cannot_modify_the_warehouse(loaded_warehouse: Settings, statement: str) -> None:
    """`meterhouse sql`, whatever it is asked, leaves the warehouse file byte-for-byte as it was."""
    path = loaded_warehouse.warehouse_path
    before = path.read_bytes()
    with duckdb.connect(str(path), read_only=True) as con:
        events_before = con.execute("SELECT * FROM meter_events").fetchall()
    _sql_cli(loaded_warehouse, statement.format(warehouse=path))
    assert path.read_bytes() == before
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT * FROM meter_events").fetchall() == events_before


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE meter_events",
        "DELETE FROM meter_events",
        "UPDATE meter_events SET quantity = 0",
        "CREATE TABLE evil AS SELECT 1",
    ],
)
def test_warehouse_query_refuses_writes(loaded_warehouse: Settings, statement: str) -> None:
    path = loaded_warehouse.warehouse_path
    before = path.read_bytes()
    with pytest.raises(QueryRefused, match="read path runs only one SELECT"):
        Warehouse(path, loaded_warehouse.lake_path).query(statement.format(warehouse=path))
    assert path.read_bytes() == before


def test_warehouse_query_cannot_overwrite_the_warehouse_file(loaded_warehouse: Settings) -> None:
    path = loaded_warehouse.warehouse_path
    before = path.read_bytes()
    with pytest.raises(QueryRefused, match="COPY statement"):
        Warehouse(path, loaded_warehouse.lake_path).query(f"COPY (SELECT 1 AS x) TO '{path}' (FORMAT csv)")
    assert path.read_bytes() == before


# -- the embedded stack listens on 127.0.0.1 only ---------------------------------------------


def _listening(port: int) -> list[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp{,6}."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                out.append(addr)
    return out


def test_local_s3_listens_on_loopback_only(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp")
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from local_s3 import free_port, start_s3
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    port = free_port()
    proc = start_s3(port, tmp_path / "s3.log")
    try:
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::
    finally:
        proc.terminate()
        proc.wait(timeout=10)
