"""The MeterEvent contract: rows that break it become rejects (etl.validate)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from contracts.meter_event import EVENT_SCHEMA, REJECT_SCHEMA
from etl.errors import ContractViolation
from etl.validate import passes_contract, validate_events

UTC = dt.UTC
URI = "s3://usage/ingest/export.json"

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


def test_a_missing_meter_name_is_rejected_with_a_reason() -> None:
    # A FOCUS row without SkuMeter, SkuId and ServiceName has no meter name: its reject must
    # say so (a null reason broke the rejected_rows insert and stopped the whole run).
    good, rejects = validate_events(events(event(1), event(2, meter_name=None)), URI)

    assert good.get_column("source_row").to_list() == [1]
    assert rejects.select("source_row", "rule", "reason").rows() == [
        (2, "contract.MeterEvent.meter_name.not_nullable",
         "meter_name is missing (null) and fails not_nullable"),
    ]  # fmt: skip


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


# -- passes_contract: the one-query form of the model's checks ---------------------------------


def test_valid_events_pass_the_one_query_form_of_the_contract() -> None:
    assert passes_contract(events(event(1), event(2)))
    assert passes_contract(events())


@pytest.mark.parametrize(
    "override",
    [
        {"event_id": ""},
        {"event_id": "x" * 513},
        {"event_id": None},
        {"customer_id": ""},
        {"customer_id": None},
        {"meter_name": "m" * 257},
        {"quantity": None},
        {"event_time": None},
        {"event_date": None},
        {"dimensions": None},
        {"source_format": "xml"},
        {"source_uri": None},
        {"source_row": 0},
    ],
)
def test_every_row_pandera_rejects_fails_the_one_query_form_too(override: dict[str, Any]) -> None:
    frame = events(event(1), event(2, **override))

    assert not passes_contract(frame)
    good, rejects = validate_events(frame, URI)
    assert good["source_row"].to_list() == [1]
    assert rejects.height == 1


def test_other_dtypes_are_left_to_pandera() -> None:
    frame = events(event(1)).with_columns(pl.col("source_row").cast(pl.Int32))

    assert not passes_contract(frame)
    good, rejects = validate_events(frame, URI)  # pandera coerces, as before
    assert dict(good.schema) == EVENT_SCHEMA
    assert rejects.height == 0
