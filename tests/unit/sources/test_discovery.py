"""The pure parts of etl.pipeline: batch planning, contract validation, reason-object keys."""

from __future__ import annotations

import datetime as dt
import posixpath
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.meter_event import EVENT_SCHEMA, REJECT_SCHEMA
from etl.errors import ContractViolation
from etl.pipeline import SourceObject, _reason_key, plan_batches, validate_events

UTC = dt.UTC
URI = "s3://usage/ingest/export.json"

# -- plan_batches ---------------------------------------------------------------------------------


def objs(*sizes: int) -> list[SourceObject]:
    return [
        SourceObject(
            "s3://usage", f"k{i}", f"s3://usage/k{i}", size, f"e{i}", "2024-01-01T00:00:00+00:00"
        )
        for i, size in enumerate(sizes)
    ]


def keys(batches: list[list[SourceObject]]) -> list[list[str]]:
    return [[o.key for o in batch] for batch in batches]


def test_no_objects_means_no_batches() -> None:
    assert plan_batches([], max_files=10, max_bytes=100) == []


def test_file_limit_splits_and_keeps_order() -> None:
    batches = plan_batches(objs(1, 1, 1, 1, 1), max_files=2, max_bytes=1_000)

    assert keys(batches) == [["k0", "k1"], ["k2", "k3"], ["k4"]]


def test_byte_limit_splits_and_an_exact_fit_stays_together() -> None:
    batches = plan_batches(objs(4, 4, 4, 3, 5), max_files=100, max_bytes=8)

    assert keys(batches) == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert [sum(o.size for o in b) for b in batches] == [8, 7, 5]


def test_an_object_larger_than_the_byte_limit_gets_its_own_batch() -> None:
    batches = plan_batches(objs(1, 50, 1, 1), max_files=100, max_bytes=10)

    assert keys(batches) == [["k0"], ["k1"], ["k2", "k3"]]


def test_whichever_limit_comes_first_splits() -> None:
    batches = plan_batches(objs(1, 1, 1, 9, 1, 1, 1), max_files=3, max_bytes=10)

    assert keys(batches) == [["k0", "k1", "k2"], ["k3", "k4"], ["k5", "k6"]]


@pytest.mark.parametrize(("max_files", "max_bytes"), [(1, 1_000), (100, 1), (0, 0)])
def test_degenerate_limits_give_one_object_per_batch_never_an_empty_one(
    max_files: int, max_bytes: int
) -> None:
    batches = plan_batches(objs(5, 0, 7), max_files=max_files, max_bytes=max_bytes)

    assert keys(batches) == [["k0"], ["k1"], ["k2"]]


def test_every_object_lands_in_exactly_one_batch() -> None:
    objects = objs(*range(1, 30))

    batches = plan_batches(objects, max_files=4, max_bytes=40)

    assert [o for b in batches for o in b] == objects
    assert all(1 <= len(b) <= 4 for b in batches)
    assert all(sum(o.size for o in b) <= 40 or len(b) == 1 for b in batches)


# -- validate_events ------------------------------------------------------------------------------


def event(row: int, **overrides: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{row}",
        "customer_id": "cust-1",
        "meter_name": "gpu_hours",
        "quantity": Decimal("1.5"),
        "unit": "Hours",
        "event_time": dt.datetime(2024, 1, 1, tzinfo=UTC),
        "event_date": dt.date(2024, 1, 1),
        "dimensions": [{"key": "team", "value": "a"}],
        "billed_cost": None,
        "effective_cost": None,
        "list_cost": None,
        "contracted_cost": None,
        "currency": None,
        "source_format": "amberflo_json",
        "source_uri": URI,
        "source_row": row,
        **overrides,
    }


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EVENT_SCHEMA)


def test_valid_events_pass_untouched_with_no_rejects() -> None:
    frame = events(event(1), event(2))

    good, rejects = validate_events(frame, URI)

    assert_frame_equal(good, frame)
    assert_frame_equal(rejects, pl.DataFrame(schema=REJECT_SCHEMA))


def test_empty_customer_id_moves_to_rejects_with_a_contract_rule() -> None:
    frame = events(event(1), event(2, customer_id=""), event(3))

    good, rejects = validate_events(frame, URI)

    assert_frame_equal(good, events(event(1), event(3)))
    assert_frame_equal(
        rejects,
        pl.DataFrame(
            [
                {
                    "source_uri": URI,
                    "source_row": 2,
                    "column_name": "customer_id",
                    "rule": "contract.MeterEvent.customer_id.str_length(1, 512)",
                    "reason": "customer_id value  fails str_length(1, 512)",
                    "raw_record": None,
                }
            ],
            schema=REJECT_SCHEMA,
        ),
    )


def test_source_format_not_allowed_moves_to_rejects() -> None:
    frame = events(event(1, source_format="xml"), event(2))

    good, rejects = validate_events(frame, URI)

    assert good["source_row"].to_list() == [2]
    assert rejects["source_row"].to_list() == [1]
    assert rejects["column_name"].to_list() == ["source_format"]
    (rule,) = rejects["rule"].to_list()
    assert rule.startswith("contract.MeterEvent.source_format.isin(")
    (reason,) = rejects["reason"].to_list()
    assert reason.startswith("source_format value xml fails isin(")


def test_a_row_breaking_two_checks_is_rejected_once() -> None:
    frame = events(event(1, customer_id="", meter_name=""), event(2))

    good, rejects = validate_events(frame, URI)

    assert good["source_row"].to_list() == [2]
    assert rejects["source_row"].to_list() == [1]
    assert rejects["rule"].str.starts_with("contract.MeterEvent.").all()


def test_every_row_failing_leaves_an_empty_valid_frame() -> None:
    frame = events(event(1, customer_id=""), event(2, event_id="x" * 513))

    good, rejects = validate_events(frame, URI)

    assert good.height == 0
    assert dict(good.schema) == EVENT_SCHEMA
    assert sorted(rejects.select("source_row", "column_name").rows()) == [
        (1, "customer_id"),
        (2, "event_id"),
    ]


def test_a_column_outside_the_schema_is_a_contract_violation_not_row_rejects() -> None:
    frame = events(event(1)).with_columns(pl.lit("x").alias("tenant"))

    with pytest.raises(ContractViolation) as info:
        validate_events(frame, URI)

    assert str(info.value).startswith(f"{URI}: events break the MeterEvent schema: ")
    assert "column 'tenant' not in" in str(info.value)


def test_a_missing_column_is_a_contract_violation_not_row_rejects() -> None:
    frame = events(event(1)).drop("currency")

    with pytest.raises(ContractViolation, match=r"events do not have the MeterEvent columns"):
        validate_events(frame, URI)


# -- _reason_key ----------------------------------------------------------------------------------

WRITTEN_AT = dt.datetime(2024, 3, 5, 23, 0, tzinfo=UTC)
PREFIX = "failed-requests/2024-03-05/"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ingest/2024/export.json", "ingest/2024/export.json"),
        ("../../etc/passwd", "_/_/etc/passwd"),
        ("/etc/passwd", "_/etc/passwd"),
        ("//double/slash", "_/_/double/slash"),
        ("a/./b/../c", "a/_/b/_/c"),
        ("..", "_"),
        ("dir/", "dir/_"),
        ("...hidden/..x", "...hidden/..x"),
    ],
)
def test_reason_key_keeps_keys_inside_the_failed_requests_folder(key: str, expected: str) -> None:
    result = _reason_key(key, WRITTEN_AT)

    assert result == f"{PREFIX}{expected}.reason.txt"
    assert posixpath.normpath(result).startswith(PREFIX)
    assert ".." not in result.split("/")
    assert not result.startswith("/")
