"""The gateway's verdict is the batch path's: same rules, and the same event ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from etl.gateway import batch_rules
from etl.gateway.batch_rules import check_lines
from etl.gateway.validate import Validator, split_verdict

NOW = datetime(2026, 10, 1, tzinfo=UTC)
MS = 1_790_000_000_000


def _line(**fields: object) -> bytes:
    record = {
        "customerId": "c1",
        "meterApiName": "gpu_hours",
        "meterValue": "2",
        "meterTimeInMillis": MS,
    }
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


def test_rules_and_positions() -> None:
    lines = [
        _line(uniqueId="a"),
        _line(meterValue="-1", uniqueId="b"),
        b"{bad",
        _line(customerId=" "),
    ]
    checked = check_lines(b"\n".join(lines) + b"\n", NOW)
    assert {i: rule for i, (rule, _) in checked.errors.items()} == {
        1: "amberflo.meterValue.non_negative",
        2: "amberflo.json.syntax",
        3: "amberflo.customerId.required",
    }
    assert checked.customers == {0: "c1"}
    assert checked.generated == {}


def test_missing_unique_id_gets_the_batch_paths_own_hash() -> None:
    line = _line(dimensions={"team": "ml", "a": "b"})
    checked = check_lines(line + b"\n", NOW)
    stored = json.loads(checked.generated[0])
    # what the batch path computes for the same record arriving as a file without uniqueId
    # (the batch path's functions as the adapter imports them, so the restructure moves one place)
    batch = batch_rules.parse_amberflo_ndjson(line, "s3://usage/ingest/drop.ndjson")
    events = batch_rules.normalize_meter_records(
        batch.records, source_uri="x", source_format="amberflo_ndjson", written_at=NOW
    ).events
    assert stored["uniqueId"] == events.get_column("event_id")[0]
    assert stored["uniqueId"].startswith("sha256:")
    # a retry of the same record gets the same id; the stored line reads back unchanged
    assert check_lines(line + b"\n", NOW).generated == checked.generated
    again = check_lines(checked.generated[0] + b"\n", NOW)
    assert again.errors == {} and again.generated == {} and again.customers == {0: "c1"}
    assert stored["dimensions"] == {"a": "b", "team": "ml"}


def test_split_verdict_gives_each_request_its_own_positions() -> None:
    lines = [_line(uniqueId="x"), b"[1]", _line(uniqueId="y"), _line(value=None), _line()]
    checked = check_lines(b"\n".join(lines) + b"\n", NOW)
    first, second = split_verdict(checked, [2, 3])
    assert set(first.errors) == {1} and set(first.customers) == {0}
    assert set(second.errors) == set() and set(second.customers) == {0, 1, 2}
    assert set(second.generated) == {1, 2}


def test_validator_checks_waiting_requests_in_one_pass() -> None:
    passes: list[int] = []

    def check(body: bytes, written_at: datetime) -> object:
        passes.append(body.count(b"\n"))
        return check_lines(body, written_at)

    validator = Validator(check)  # type: ignore[arg-type]
    futures = [validator.submit([_line(uniqueId=f"u{i}")] * 3) for i in range(5)]
    validator.start()  # all five are queued before the thread runs: one pass
    try:
        verdicts = [f.result(30) for f in futures]
    finally:
        validator.stop()
    assert passes == [15]
    assert all(v.errors == {} and set(v.customers) == {0, 1, 2} for v in verdicts)
    assert pl.__version__  # polars is what runs the rules
