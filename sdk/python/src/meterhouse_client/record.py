"""One checked meter record and its exact JSON form."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from meterhouse_client.rules import checked_fields


@dataclass(frozen=True)
class MeterRecord:
    """A record that passed the batch path's rules. Its `unique_id` is fixed here, once, so
    every retry, split or replay of it sends the same id and the warehouse keeps it once."""

    customer_id: str
    meter_api_name: str
    meter_value: Decimal
    meter_time_in_millis: int
    unique_id: str
    dimensions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        meter_api_name: str,
        meter_value: int | Decimal | str | float,
        customer_id: str,
        meter_time_in_millis: int | None = None,
        dimensions: dict[str, Any] | None = None,
        unique_id: str | None = None,
        *,
        now_ms: int | None = None,
    ) -> MeterRecord:
        """Check the arguments with the batch path's rules (`InvalidRecord` names the rule) and
        fix the record's uniqueId (a uuid4 unless given)."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        unique = unique_id.strip() if isinstance(unique_id, str) else unique_id
        raw: dict[str, Any] = {
            "customerId": customer_id,
            "meterApiName": meter_api_name,
            "meterValue": meter_value,
            "meterTimeInMillis": now if meter_time_in_millis is None else meter_time_in_millis,
            "uniqueId": unique or uuid.uuid4().hex,
            "dimensions": dimensions,
        }
        return cls.from_dict(raw, now_ms=now)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, now_ms: int) -> MeterRecord:
        """A record from its Amberflo dict form, checked; `InvalidRecord` when it breaks a rule."""
        fields = checked_fields(raw, now_ms)
        return cls(
            customer_id=fields.customer_id,
            meter_api_name=fields.meter_api_name,
            meter_value=fields.meter_value,
            meter_time_in_millis=fields.meter_time_in_millis,
            unique_id=fields.unique_id or uuid.uuid4().hex,
            dimensions=fields.dimensions,
        )

    def to_json(self) -> str:
        """The record as one line of JSON; meterValue is a JSON number written from the
        Decimal's own digits, never through a float."""
        return (
            '{"customerId":' + json.dumps(self.customer_id)
            + ',"meterApiName":' + json.dumps(self.meter_api_name)
            + ',"meterValue":' + _number_text(self.meter_value)
            + ',"meterTimeInMillis":' + str(self.meter_time_in_millis)
            + ',"uniqueId":' + json.dumps(self.unique_id)
            + ',"dimensions":' + json.dumps(self.dimensions, separators=(",", ":"))
            + "}"
        )  # fmt: skip

    @classmethod
    def from_json(cls, line: str) -> MeterRecord:
        """The inverse of `to_json` (the spool's lines); no rule check, the record passed
        them when it was created, and a spooled record must replay even when it is old."""
        raw = json.loads(line, parse_float=Decimal, parse_int=Decimal)
        return cls(
            customer_id=raw["customerId"],
            meter_api_name=raw["meterApiName"],
            meter_value=raw["meterValue"],
            meter_time_in_millis=int(raw["meterTimeInMillis"]),
            unique_id=raw["uniqueId"],
            dimensions=dict(raw.get("dimensions") or {}),
        )


def _number_text(quantity: Decimal) -> str:
    # Positional notation ("1000", not "1E+3") reads the same in every JSON parser; the
    # value is bounded by the rules (< 10**26, <= 12 places), so the text stays short.
    return format(quantity.copy_abs() if quantity.is_zero() else quantity, "f")


def records_body(records: list[MeterRecord]) -> bytes:
    """A JSON array of records, as the gateway's /ingest takes it."""
    return ("[" + ",".join(r.to_json() for r in records) + "]").encode()


def records_ndjson(records: list[MeterRecord]) -> bytes:
    """Newline-delimited JSON records, as the landing prefix and the spool hold them."""
    return "".join(r.to_json() + "\n" for r in records).encode()
