"""A hostile corpus against the real HTTP server: each request gets its documented status and
problem body, nothing of a refused request is stored, and the gateway keeps serving."""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.gateway._gateway import (
    SCOPED_KEY,
    ThreadGateway,
    gateway_settings,
    landed_records,
    record,
    running_gateway,
)

pytestmark = [pytest.mark.integration]


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    status: int
    errors: list[tuple[int, str]] = field(default_factory=list)  # (index, rule) each
    rule: str | None = None  # for a request refused as a whole
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = "default"


def _json(*records: Any) -> bytes:
    return json.dumps(list(records)).encode()


def _nd(*lines: str) -> bytes:
    return "\n".join(lines).encode()


GOOD = json.dumps(record("good-1"))


def cases() -> list[Case]:
    ms = int(time.time() * 1000)
    return [
        Case("array cut off", b'[{"customerId": "c1", "meterApiName"', 400,
             [(0, "amberflo.json.syntax")]),
        Case("array syntax error in element 2", f'[{GOOD}, {GOOD}, {{"customerId": }}]'.encode(),
             400, [(2, "amberflo.json.syntax")]),
        Case("ndjson bad line", _nd(GOOD, GOOD, "{not json", GOOD), 400,
             [(2, "amberflo.json.syntax")], headers={"Content-Type": "application/x-ndjson"}),
        Case("ndjson blank lines are not records", _nd(GOOD, "", "{oops"), 400,
             [(1, "amberflo.json.syntax")]),
        Case("not records at all", b'"hello"', 400, rule="gateway.body.format"),
        Case("empty body", b"   ", 400, rule="gateway.body.empty"),
        Case("array then garbage", f"[{GOOD}] trailing".encode(), 400, rule="gateway.body.format"),
        Case("element not an object", _json(record("x1"), 5, [1]), 400,
             [(1, "amberflo.record.object"), (2, "amberflo.record.object")]),
        Case("wrong types", _json(
            record("t1", value={"n": 1}),
            record("t2", customerId=["c1"]),
            record("t3", dimensions=["a"]),
            record("t4", dimensions={"a": {"b": 1}}),
            record("t5", value="abc"),
            record("t6", value="NaN"),
            record("t7", meterTimeInMillis=ms // 1000),
            record("t8", meterTimeInMillis="yesterday"),
            record("t9", value="-2"),
            record("t10", meterApiName="  "),
            record("t11", value="0.1234567890123"),
        ), 400, [
            (0, "amberflo.meterValue.scalar"),
            (1, "amberflo.customerId.scalar"),
            (2, "amberflo.dimensions.map"),
            (3, "amberflo.dimensions.scalar"),
            (4, "amberflo.meterValue.number"),
            (5, "amberflo.meterValue.finite"),
            (6, "amberflo.meterTimeInMillis.seconds"),
            (7, "amberflo.meterTimeInMillis.integer"),
            (8, "amberflo.meterValue.non_negative"),
            (9, "amberflo.meterApiName.required"),
            (10, "amberflo.meterValue.precision"),
        ]),
        Case("event far in the future", _json(record("f1", meterTimeInMillis=ms + 3 * 86_400_000)),
             400, [(0, "amberflo.meterTimeInMillis.future")]),
        Case("too many dimensions", _json(
            record("d1", dimensions={f"k{i}": "v" for i in range(65)})), 400,
            [(0, "amberflo.dimensions.size")]),
        Case("uniqueId over the contract's 512 characters", _json(record("u" * 600)), 400,
             [(0, "contract.MeterEvent.event_id.str_length(1, 512)")]),
        Case("record over the size limit", _json(record("big", note="x" * 5000)), 400,
             [(0, "gateway.record.size")]),
        Case("body over the size limit", _json(*[record(f"b{i}") for i in range(200)]), 413,
             rule="gateway.body.size"),
        Case("too many records", _nd(*["{}"] * 101), 413,
             rule="gateway.body.records"),
        Case("gzip bomb", gzip.compress(b" " * (8 * 1024 * 1024), compresslevel=9), 413,
             rule="gateway.body.decompressed_size", headers={"Content-Encoding": "gzip"}),
        Case("corrupt gzip", b"\x1f\x8b\x08\x00garbage-not-deflate", 400, rule="gateway.body.gzip",
             headers={"Content-Encoding": "gzip"}),
        Case("gzip cut off", gzip.compress(_json(record("g1")))[:-12], 400,
             rule="gateway.body.gzip", headers={"Content-Encoding": "gzip"}),
        Case("unsupported encoding", b"xx", 415, rule="gateway.body.encoding",
             headers={"Content-Encoding": "br"}),
        Case("missing key", _json(record("k1")), 401, key=None),
        Case("invalid key", _json(record("k2")), 401, key="not-a-key"),
        Case("empty bearer", _json(record("k3")), 401, key=None,
             headers={"Authorization": "Bearer "}),
        Case("customer outside the key's scope", _json(record("s1"), record("s2", customer="c2")),
             403, [(1, "gateway.customer.scope")], key=SCOPED_KEY),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def small_gateway(s3_server: str) -> Any:
    """Limits small enough to hit cheaply: 100 records, 16 KiB bodies, 4 KiB records."""
    settings = gateway_settings(
        max_records=100,
        max_body_bytes=16 * 1024,
        max_decompressed_bytes=1024 * 1024,
        max_record_bytes=4096,
    )
    with running_gateway(settings) as gw:
        yield gw


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_hostile_request_gets_its_documented_answer(
    s3: Any, small_gateway: ThreadGateway, case: Case
) -> None:
    key = {"default": "gw-test-key-all-customers"}.get(case.key or "", case.key)
    started = time.monotonic()
    response = small_gateway.post(case.body, key=key, headers=case.headers)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["title"] and problem["detail"] and problem["type"].startswith("urn:meterhouse")
    assert [(e["index"], e["rule"]) for e in problem["errors"]] == case.errors
    assert all(e["reason"] for e in problem["errors"])
    if case.rule:
        assert problem["rule"] == case.rule
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert time.monotonic() - started < 30  # a bomb is refused long before it is inflated
    # nothing of a refused request is stored, and the gateway keeps serving
    assert landed_records(s3) == []
    ok = small_gateway.post([record("after-" + case.name)])
    assert ok.status_code == 200 and ok.json() == {"stored": 1}
    assert [r["uniqueId"] for r in landed_records(s3)] == ["after-" + case.name]


def test_body_over_the_limit_without_content_length_is_refused(
    s3: Any, small_gateway: ThreadGateway
) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    response = small_gateway.post(chunks())  # chunked transfer, no length given
    assert response.status_code == 413
    assert response.json()["rule"] == "gateway.body.size"


def test_ten_thousand_records_one_bad_stores_nothing(s3: Any, gateway: ThreadGateway) -> None:
    records = [record(f"r{i}") for i in range(10_000)]
    records[7777]["meterValue"] = "12,5"
    body = gzip.compress(json.dumps(records).encode())
    response = gateway.post(body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["errors"] == [
        {
            "index": 7777,
            "rule": "amberflo.meterValue.number",
            "reason": "meterValue '12,5' is not a number",
        }
    ]
    assert problem["detail"].startswith("1 of 10000 records")
    assert landed_records(s3) == []
    records[7777]["meterValue"] = "12.5"
    again = gateway.post(
        gzip.compress(json.dumps(records).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert again.json() == {"stored": 10_000}
    assert len(landed_records(s3)) == 10_000


def test_accepted_records_keep_their_text_and_get_a_deterministic_id(
    s3: Any, gateway: ThreadGateway
) -> None:
    ms = int(time.time() * 1000)
    body = (
        '[{"customerId": "c1", "meterApiName": "gpu_hours", "meterValue": 1.500000000001,\n'
        f' "meterTimeInMillis": {ms}, "uniqueId": "keep-me"}},\n'
        f' {{"customerId": "c2", "meterApiName": "gpu_hours", "meterValue": 3, "meterTimeInMillis": {ms},'
        ' "dimensions": {"team": "ml"}}]'
    )
    first = gateway.post(body.encode(), headers={"Content-Type": "application/json"})
    second = gateway.post(body.encode())  # a retry of the same request
    assert first.json() == second.json() == {"stored": 2}
    stored = landed_records(s3)
    assert stored[0]["meterValue"] == 1.500000000001  # the record's own text, one line
    assert stored[0]["uniqueId"] == "keep-me"
    hashed = [r["uniqueId"] for r in stored if r["customerId"] == "c2"]
    assert len(hashed) == 2 and hashed[0] == hashed[1] and hashed[0].startswith("sha256:")


def test_ndjson_single_object_and_bearer_are_accepted(s3: Any, gateway: ThreadGateway) -> None:
    nd = "\r\n".join(json.dumps(record(f"n{i}")) for i in range(3)) + "\r\n\r\n"
    assert gateway.post(nd.encode(), headers={"Content-Type": "application/x-ndjson"}).json() == {
        "stored": 3
    }
    pretty = json.dumps(record("one"), indent=2).encode()
    assert gateway.post(pretty).json() == {"stored": 1}
    bearer = gateway.post(
        [record("b1")], key=None, headers={"Authorization": "Bearer gw-test-key-all-customers"}
    )
    assert bearer.json() == {"stored": 1}
    assert sorted(r["uniqueId"] for r in landed_records(s3)) == ["b1", "n0", "n1", "n2", "one"]


def test_gzip_bomb_of_a_gigabyte_stops_at_the_limit(s3: Any, gateway: ThreadGateway) -> None:
    zeros = gzip.compress(b"\0" * (1024 * 1024), compresslevel=9)
    bomb = zeros * 1024  # 1 GiB once inflated, about 1 MiB on the wire (concatenated members)
    started = time.monotonic()
    response = gateway.post(bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["rule"] == "gateway.body.decompressed_size"
    assert time.monotonic() - started < 30
    assert gateway.post([record("still-serving")]).json() == {"stored": 1}
