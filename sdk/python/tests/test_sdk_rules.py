"""The batch path's rules, checked at meter() time: one test per rule, by its name."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from meterhouse_client import InvalidRecord, MeterRecord, check_record
from meterhouse_client.rules import MAX_DECIMAL_PLACES, MIN_EVENT_MS

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000


def good(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "customerId": "team-a",
        "meterApiName": "gpu_hours",
        "meterValue": "1.5",
        "meterTimeInMillis": NOW_MS - 1000,
        "uniqueId": "u-1",
        "dimensions": {"region": "eu-west-1"},
    }
    record.update(changes)
    return record


def broken_rule(record: Any) -> str:
    with pytest.raises(InvalidRecord) as caught:
        check_record(record, NOW_MS)
    assert caught.value.reason in str(caught.value)
    return caught.value.rule


def test_a_good_record_passes() -> None:
    check_record(good(), NOW_MS)


def test_record_object() -> None:
    assert broken_rule(["not", "a", "dict"]) == "amberflo.record.object"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_customer_id_required(value: Any) -> None:
    assert broken_rule(good(customerId=value)) == "amberflo.customerId.required"


@pytest.mark.parametrize("value", [None, "", " \t"])
def test_meter_api_name_required(value: Any) -> None:
    assert broken_rule(good(meterApiName=value)) == "amberflo.meterApiName.required"


def test_scalar_fields() -> None:
    assert broken_rule(good(customerId={"id": 1})) == "amberflo.customerId.scalar"
    assert broken_rule(good(meterValue=[1])) == "amberflo.meterValue.scalar"
    assert broken_rule(good(uniqueId={"x": 1})) == "amberflo.uniqueId.scalar"


def test_meter_value_required() -> None:
    assert broken_rule(good(meterValue=None)) == "amberflo.meterValue.required"


@pytest.mark.parametrize(
    "value", ["NaN", " -inf ", "Infinity", float("nan"), float("inf"), Decimal("NaN")]
)
def test_meter_value_finite(value: Any) -> None:
    assert broken_rule(good(meterValue=value)) == "amberflo.meterValue.finite"


@pytest.mark.parametrize(
    "value", ["", "abc", "1_000", "0x10", "1,5", "\uff11\uff12", True, "1" + "0" * 26]
)
def test_meter_value_number(value: Any) -> None:
    assert broken_rule(good(meterValue=value)) == "amberflo.meterValue.number"


@pytest.mark.parametrize(
    "value",
    [
        "0." + "0" * MAX_DECIMAL_PLACES + "1",
        Decimal("1E-13"),
        "123456789012345.1234567890123",  # beyond 10**14 too (the batch path skips these)
        0.1 + 0.2,  # 0.30000000000000004
        12345.678901234567,  # 12 places, but 17 significant digits: a float artefact
    ],
)
def test_meter_value_precision(value: Any) -> None:
    assert broken_rule(good(meterValue=value)) == "amberflo.meterValue.precision"


@pytest.mark.parametrize("value", [-1, "-0.5", Decimal("-1E-12")])
def test_meter_value_non_negative(value: Any) -> None:
    assert broken_rule(good(meterValue=value)) == "amberflo.meterValue.non_negative"


def test_meter_time_required() -> None:
    assert broken_rule(good(meterTimeInMillis=None)) == "amberflo.meterTimeInMillis.required"


@pytest.mark.parametrize("value", ["abc", "1.7e12", 1_700_000_000_000.0, "17.5", True, 2**63])
def test_meter_time_integer(value: Any) -> None:
    assert broken_rule(good(meterTimeInMillis=value)) == "amberflo.meterTimeInMillis.integer"


@pytest.mark.parametrize("value", [NOW_MS // 1000, MIN_EVENT_MS // 1000, "1700000000"])
def test_meter_time_seconds(value: Any) -> None:
    assert broken_rule(good(meterTimeInMillis=value)) == "amberflo.meterTimeInMillis.seconds"


@pytest.mark.parametrize("value", [0, 5, MIN_EVENT_MS - 1])
def test_meter_time_too_old(value: Any) -> None:
    assert broken_rule(good(meterTimeInMillis=value)) == "amberflo.meterTimeInMillis.too_old"


def test_meter_time_future() -> None:
    check_record(good(meterTimeInMillis=NOW_MS + DAY_MS), NOW_MS)  # the skew allowed
    rule = broken_rule(good(meterTimeInMillis=NOW_MS + DAY_MS + 1))
    assert rule == "amberflo.meterTimeInMillis.future"


@pytest.mark.parametrize("value", ["region=eu", ["region"], {1: "x"}])
def test_dimensions_map(value: Any) -> None:
    assert broken_rule(good(dimensions=value)) == "amberflo.dimensions.map"


def test_dimensions_size() -> None:
    check_record(good(dimensions={f"k{i}": "v" for i in range(64)}), NOW_MS)
    rule = broken_rule(good(dimensions={f"k{i}": "v" for i in range(65)}))
    assert rule == "amberflo.dimensions.size"


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_dimensions_scalar(value: Any) -> None:
    assert broken_rule(good(dimensions={"k": value})) == "amberflo.dimensions.scalar"


@pytest.mark.parametrize(
    "dims", [{"": "v"}, {"k" * 129: "v"}, {"k": "v" * 1025}], ids=["empty", "long-key", "long"]
)
def test_dimensions_length(dims: dict[str, str]) -> None:
    assert broken_rule(good(dimensions=dims)) == "amberflo.dimensions.length"


def test_the_first_rule_broken_is_reported() -> None:
    record = good(customerId="", meterValue="-1", meterTimeInMillis=5)
    assert broken_rule(record) == "amberflo.customerId.required"
    with pytest.raises(InvalidRecord) as caught:
        check_record(good(meterValue="-2"), NOW_MS)
    assert caught.value.reason == "meterValue '-2' is negative; send a correction as its own meter"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7, "7"),
        ("  1.50 ", "1.50"),
        (Decimal("0.000000000001"), "0.000000000001"),
        ("12345678901234567890.123456789012", "12345678901234567890.123456789012"),
        ("1E+3", "1000"),
        (0.1, "0.1"),
        (2.5e-5, "0.000025"),
        ("-0", "0"),
        ("1.000000000000000000", "1.000000000000000000"),  # trailing zeros are exact
    ],
)
def test_values_are_sent_exactly_as_json_numbers(value: Any, text: str) -> None:
    record = MeterRecord.create("gpu_hours", value, "team-a", NOW_MS, now_ms=NOW_MS)
    line = record.to_json()
    assert f'"meterValue":{text},' in line
    parsed = json.loads(line, parse_float=Decimal, parse_int=Decimal)
    assert parsed["meterValue"] == Decimal(text)
    assert MeterRecord.from_json(line) == record


def test_meter_raises_invalid_record_with_its_rule() -> None:
    with pytest.raises(InvalidRecord) as caught:
        MeterRecord.create("gpu_hours", "1.5", "team-a", 1_700_000_000)
    assert caught.value.rule == "amberflo.meterTimeInMillis.seconds"


def test_unique_id_fixed_at_creation() -> None:
    first = MeterRecord.create("gpu_hours", 1, "team-a")
    second = MeterRecord.create("gpu_hours", 1, "team-a")
    assert first.unique_id and first.unique_id != second.unique_id
    assert MeterRecord.create("gpu_hours", 1, "team-a", unique_id=" id-7 ").unique_id == "id-7"


def test_dimensions_are_sent_as_strings() -> None:
    record = MeterRecord.create(
        "gpu_hours", 1, "team-a", dimensions={"b": 2, "a": True, "c": None, "d": "x"}
    )
    assert record.dimensions == {"a": "true", "b": "2", "d": "x"}
