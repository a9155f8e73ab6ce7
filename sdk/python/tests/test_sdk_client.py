"""The HTTP client against a real (scripted) gateway on 127.0.0.1: nothing lost, nothing
doubled beyond a resend of the same uniqueId."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from stub_gateway import (
    API_KEY,
    FAST,
    Gateway,
    MakeClient,
    dead_letters,
    drop,
    hold,
    meter_some,
    ok,
    problem,
    slow,
    spooled_lines,
    status,
    too_large_above,
)

from meterhouse_client import (
    BatchRejected,
    ClientClosed,
    DeliveryError,
    MeterhouseClient,
    MeterhouseError,
    MeterRecord,
    QueueFull,
)
from meterhouse_client.transport import parse_retry_after


def assert_exactly_once(gateway: Gateway, records: list[MeterRecord]) -> None:
    """Every record stored, nothing else; a record seen twice was the same record."""
    expected = {r.unique_id: r for r in records}
    stored = gateway.state.stored
    assert {r["uniqueId"] for r in stored} == set(expected)
    for row in stored:
        sent = expected[row["uniqueId"]]
        assert row["customerId"] == sent.customer_id
        assert Decimal(str(row["meterValue"])) == sent.meter_value


def test_batches_by_count_then_flush(gateway: Gateway, make_client: MakeClient) -> None:
    client = make_client(batch_size=10, flush_interval_s=30)
    records = meter_some(client, 25)
    gateway.state.wait_stored(20)
    assert [len(r.records) for r in gateway.state.received] == [10, 10]
    assert client.flush(timeout=5)
    assert [len(r.records) for r in gateway.state.received] == [10, 10, 5]
    assert_exactly_once(gateway, records)


def test_batches_by_time(gateway: Gateway, make_client: MakeClient) -> None:
    client = make_client(batch_size=500, flush_interval_s=0.3)
    records = meter_some(client, 3)
    gateway.state.wait_stored(3, timeout_s=5)  # no flush(): the linger sends it
    assert [len(r.records) for r in gateway.state.received] == [3]
    assert_exactly_once(gateway, records)


def test_wire_format(gateway: Gateway, make_client: MakeClient) -> None:
    client = make_client()
    client.meter("gpu_hours", Decimal("0.000000000001"), "team-a", dimensions={"gpus": 8})
    client.meter("egress_gb", "123456789012345678.5", " team-b ", 1_767_225_600_000, None, "id-1")
    assert client.flush(timeout=5)
    (request,) = gateway.state.received
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    body = request.raw_body.decode()
    # JSON numbers written from the Decimal's digits, never through a float
    assert '"meterValue":0.000000000001,' in body
    assert '"meterValue":123456789012345678.5,' in body
    first, second = request.records
    assert first["dimensions"] == {"gpus": "8"}
    assert len(first["uniqueId"]) == 32 and isinstance(first["meterTimeInMillis"], int)
    assert second == {
        "customerId": "team-b",
        "meterApiName": "egress_gb",
        "meterValue": 123456789012345678.5,
        "meterTimeInMillis": 1_767_225_600_000,
        "uniqueId": "id-1",
        "dimensions": {},
    }


def test_gzip_off(gateway: Gateway, make_client: MakeClient) -> None:
    client = make_client(gzip=False)
    meter_some(client, 2)
    assert client.flush(timeout=5)
    assert "content-encoding" not in gateway.state.received[0].headers


def test_5xx_retried_with_the_same_unique_ids(gateway: Gateway, make_client: MakeClient) -> None:
    gateway.state.script.extend([status(503), status(500), status(502)])
    client = make_client()
    records = meter_some(client, 5)
    assert client.flush(timeout=5)
    sent = [[r["uniqueId"] for r in request.records] for request in gateway.state.received]
    assert len(sent) == 4 and all(ids == sent[0] for ids in sent)
    assert_exactly_once(gateway, records)
    assert client.stats().sent == 5


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured(gateway: Gateway, make_client: MakeClient, code: int) -> None:
    gateway.state.script.append(status(code, {"Retry-After": "1"}))
    client = make_client(backoff_base_s=0.001, backoff_max_s=0.001)
    records = meter_some(client, 3)
    assert client.flush(timeout=10)
    first, second = gateway.state.received
    assert second.at - first.at >= 0.95  # the backoff alone would wait ~1 ms
    assert_exactly_once(gateway, records)


def test_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: now
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_timeout_after_the_gateway_stored_resends_the_same_ids(
    gateway: Gateway, make_client: MakeClient
) -> None:
    gateway.state.script.append(slow(1.0))
    client = make_client(timeout_s=0.3)
    records = meter_some(client, 4)
    assert client.flush(timeout=10)
    ids = gateway.state.stored_ids()
    # stored twice (the gateway kept the first attempt), each time with the same uniqueIds
    assert Counter(ids) == {r.unique_id: 2 for r in records}
    assert_exactly_once(gateway, records)


def test_dropped_connections_are_retried(gateway: Gateway, make_client: MakeClient) -> None:
    gateway.state.script.extend([drop, drop])
    client = make_client()
    records = meter_some(client, 6)
    assert client.flush(timeout=5)
    assert len(gateway.state.received) == 3
    assert Counter(gateway.state.stored_ids()) == {r.unique_id: 1 for r in records}


def test_413_splits_the_batch_in_halves(gateway: Gateway, make_client: MakeClient) -> None:
    gateway.state.default = too_large_above(3)
    client = make_client(batch_size=10, flush_interval_s=30)
    records = meter_some(client, 10)
    assert client.flush(timeout=5)
    sizes = [len(r.records) for r in gateway.state.received]
    assert sizes[0] == 10 and max(sizes[1:]) <= 5
    assert Counter(gateway.state.stored_ids()) == {r.unique_id: 1 for r in records}
    assert client.stats().spooled == 0


def test_400_dead_letters_the_named_records_and_sends_the_rest_once(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    error = {"index": 1, "rule": "amberflo.meterValue.precision", "reason": "too precise"}
    gateway.state.script.append(problem([error]))
    seen: list[tuple[MeterhouseError, list[MeterRecord]]] = []
    client = make_client(batch_size=3, on_error=lambda exc, recs: seen.append((exc, recs)))
    records = meter_some(client, 3)
    assert client.flush(timeout=5)
    assert len(gateway.state.received) == 2  # the rejected request, then the good two; no loop
    assert_exactly_once(gateway, [records[0], records[2]])
    (letter,) = dead_letters(spool_dir)
    assert letter["error"] == error and letter["record"]["uniqueId"] == records[1].unique_id
    ((exc, recs),) = seen
    assert isinstance(exc, BatchRejected) and exc.status == 400 and recs == [records[1]]
    assert client.stats().dead_lettered == 1


def test_400_naming_nothing_dead_letters_the_batch_without_retrying(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    gateway.state.script.append(problem([]))
    client = make_client(batch_size=3)
    records = meter_some(client, 3)
    assert client.flush(timeout=5)
    assert len(gateway.state.received) == 1
    letters = dead_letters(spool_dir)
    assert [d["record"]["uniqueId"] for d in letters] == [r.unique_id for r in records]
    assert letters[0]["error"]["title"] == "Invalid meter records"
    assert spooled_lines(spool_dir) == []


def test_401_is_not_retried_and_keeps_the_records(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    seen: list[MeterhouseError] = []
    client = make_client(on_error=lambda exc, recs: seen.append(exc))
    # a wrong key: the stub answers 401
    client._transport._api_key = "wrong"  # type: ignore[attr-defined]
    records = meter_some(client, 4)
    assert client.flush(timeout=5)
    assert len(gateway.state.received) == 1
    assert isinstance(seen[0], DeliveryError) and seen[0].status == 401
    assert [r["uniqueId"] for r in spooled_lines(spool_dir)] == [r.unique_id for r in records]
    client.close()
    # with the key fixed, the next client delivers them
    replayer = make_client()
    gateway.state.wait_stored(4)
    replayer.close()
    assert_exactly_once(gateway, records)


def test_exhausted_retries_spool_and_the_next_client_replays(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    gateway.state.default = status(503)
    client = make_client(max_retries=2)
    records = meter_some(client, 7)
    assert client.flush(timeout=5)
    assert len(gateway.state.received) == 3  # one try, two retries
    assert gateway.state.stored == []
    assert [r["uniqueId"] for r in spooled_lines(spool_dir)] == [r.unique_id for r in records]
    assert client.stats().spooled == 7
    client.close()

    gateway.state.default = ok
    replayer = make_client()
    gateway.state.wait_stored(7)
    assert replayer.flush(timeout=5)
    replayer.close()
    assert_exactly_once(gateway, records)
    assert replayer.stats().replayed == 7
    assert list(spool_dir.glob("*.ndjson")) == []  # deleted only after the acknowledgement


def test_replay_that_fails_again_keeps_every_record(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    gateway.state.default = status(503)
    first = make_client(max_retries=0, batch_size=2)
    records = meter_some(first, 5)
    first.close()
    assert len(spooled_lines(spool_dir)) == 5

    second = make_client(max_retries=0, batch_size=2)
    assert second.flush(timeout=5)
    second.close()
    # the old file is gone only because its records were spooled again in the new one
    (path,) = spool_dir.glob("*.ndjson")
    assert path.name == f"{second.client_id}.ndjson"
    assert sorted(r["uniqueId"] for r in spooled_lines(spool_dir)) == sorted(
        r.unique_id for r in records
    )


def test_queue_full_raises_and_the_record_is_not_taken(
    gateway: Gateway, make_client: MakeClient
) -> None:
    gate = threading.Event()
    gateway.state.script.append(hold(gate))
    client = make_client(batch_size=1, max_queue=2, queue_timeout_s=0)
    first = client.meter("api_calls", 1, "c")
    assert gateway.state.first_request.wait(5)  # the sender is busy with `first`
    queued = [client.meter("api_calls", 2, "c"), client.meter("api_calls", 3, "c")]
    with pytest.raises(QueueFull):
        client.meter("api_calls", 4, "c")
    gate.set()
    assert client.flush(timeout=5)
    assert_exactly_once(gateway, [first, *queued])
    assert client.stats().accepted == 3


def test_queue_full_blocks_until_there_is_room(gateway: Gateway, make_client: MakeClient) -> None:
    gate = threading.Event()
    gateway.state.script.append(hold(gate))
    client = make_client(batch_size=1, max_queue=1, queue_timeout_s=10)
    records = [client.meter("api_calls", 1, "c")]
    assert gateway.state.first_request.wait(5)
    records.append(client.meter("api_calls", 2, "c"))
    blocked = threading.Thread(target=lambda: records.append(client.meter("api_calls", 3, "c")))
    blocked.start()
    time.sleep(0.3)
    assert blocked.is_alive() and len(records) == 2  # waiting for room, not dropped
    gate.set()
    blocked.join(5)
    assert not blocked.is_alive()
    assert client.flush(timeout=5)
    assert_exactly_once(gateway, records)


def test_close_flushes_and_refuses_more(gateway: Gateway, make_client: MakeClient) -> None:
    client = make_client(flush_interval_s=30)
    records = meter_some(client, 3)
    client.close()
    assert_exactly_once(gateway, records)
    with pytest.raises(ClientClosed):
        client.meter("api_calls", 1, "c")
    client.close()  # idempotent


def test_context_manager_flushes(gateway: Gateway, spool_dir: Path) -> None:
    with MeterhouseClient(
        gateway.url, API_KEY, spool_dir=spool_dir, **{**FAST, "flush_interval_s": 30}
    ) as client:
        records = meter_some(client, 4)
    assert_exactly_once(gateway, records)


def test_close_with_the_gateway_down_spools_within_its_timeout(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    gateway.state.default = status(503, {"Retry-After": "30"})
    client = make_client(max_retries=100, batch_size=2)
    records = meter_some(client, 5)
    started = time.monotonic()
    client.close(timeout=0.5)
    assert time.monotonic() - started < 3
    assert sorted(r["uniqueId"] for r in spooled_lines(spool_dir)) == sorted(
        r.unique_id for r in records
    )


def test_many_threads_metering_at_once(gateway: Gateway, make_client: MakeClient) -> None:
    gateway.state.script.extend([status(503), drop, status(429, {"Retry-After": "0"})])
    client = make_client(batch_size=100)
    records: list[MeterRecord] = []
    lock = threading.Lock()

    def work() -> None:
        mine = meter_some(client, 250)
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=10)
    assert len(records) == 2000
    assert Counter(gateway.state.stored_ids()) == {r.unique_id: 1 for r in records}


def test_a_torn_spool_line_becomes_a_dead_letter_not_a_loss(
    gateway: Gateway, make_client: MakeClient, spool_dir: Path
) -> None:
    record = MeterRecord.create("api_calls", 3, "team-a")
    spool_dir.mkdir(parents=True)
    torn = '{"customerId":"team-a","meterApiName":"api_ca'
    (spool_dir / "crashed-client.ndjson").write_text(record.to_json() + "\n" + torn)
    client = make_client()
    gateway.state.wait_stored(1)
    client.close()
    assert_exactly_once(gateway, [record])
    (letter,) = dead_letters(spool_dir)
    assert letter["line"] == torn
    assert list(spool_dir.glob("*.ndjson")) == []
