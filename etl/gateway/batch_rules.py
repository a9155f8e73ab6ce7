"""The batch path's own rules and S3 configuration, behind one small adapter.

Every import the gateway makes of etl's ingestion modules is in this file.

The gateway checks a request with exactly what `usage_ingest` will run on the object it
writes: the Amberflo NDJSON parser, the normalizer and the MeterEvent contract. There is no
second copy of any rule; a record the gateway accepts is a record the batch path loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS
from etl.formats.amberflo import normalize_meter_records, parse_amberflo_json, parse_amberflo_ndjson
from etl.sources.stores import S3Config, split_s3_uri
from etl.validate import validate_events

__all__ = [
    "CheckedLines",
    "S3Config",
    "array_errors",
    "check_lines",
    "split_s3_uri",
    "warm_up",
]

# What the rejects of a request are recorded against; never stored anywhere.
REQUEST_URI = "gateway:request"
_UNIQUE_ID = "uniqueId"


@dataclass(frozen=True)
class CheckedLines:
    """The verdict of the batch rules on NDJSON lines (positions are 0-based line numbers).

    `errors`: position -> (rule, reason) of every line the batch path would reject.
    `customers`: position -> customer id of every accepted line.
    `generated`: position -> the NDJSON line to store instead of the request's own text, for
    accepted records without a uniqueId: the same values, plus the event id the batch path
    computes for the record (a hash of its content, so a retry gets the same id).
    """

    errors: dict[int, tuple[str, str]]
    customers: dict[int, str]
    generated: dict[int, bytes]


def _rejects(frame: pl.DataFrame) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    if not frame.height:
        return out
    for row, rule, reason in frame.select("source_row", "rule", "reason").iter_rows():
        # The first reject of a row wins: it is the rule the batch path reports first.
        out.setdefault(int(row) - 1, (str(rule), str(reason)))
    return out


def _canonical_line(raw: dict[str, Any], event_id: str) -> bytes:
    record: dict[str, Any] = {name: raw[name] for name in AMBERFLO_FIELDS}
    record[_UNIQUE_ID] = event_id
    record["dimensions"] = {d["key"]: d["value"] for d in raw["dimensions"]}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def check_lines(ndjson: bytes, written_at: datetime) -> CheckedLines:
    """Run NDJSON (one record per line, no blank lines) through parse -> normalize -> contract.

    `written_at` stands for the object's write time: the batch path rejects events stamped
    more than a day after it.
    """
    batch = parse_amberflo_ndjson(ndjson, REQUEST_URI)
    normalized = normalize_meter_records(
        batch.records,
        source_uri=REQUEST_URI,
        source_format="amberflo_ndjson",
        written_at=written_at,
    )
    events, contract_rejects = validate_events(normalized.events, REQUEST_URI)
    errors = _rejects(batch.rejects)
    for frame in (normalized.rejects, contract_rejects):
        for position, verdict in _rejects(frame).items():
            errors.setdefault(position, verdict)
    customers = dict(
        zip(
            (events.get_column("source_row") - 1).to_list(),
            events.get_column("customer_id").to_list(),
            strict=True,
        )
    )
    # Records whose uniqueId is missing or blank: the batch path gave them a hashed id.
    raw = batch.records
    unique_ids = raw.get_column(_UNIQUE_ID)
    if not unique_ids.null_count() and unique_ids.str.strip_chars().str.len_bytes().min() != 0:
        return CheckedLines(errors, customers, {})
    idless = raw.filter(pl.col(_UNIQUE_ID).str.strip_chars().replace("", None).is_null()).join(
        events.select("source_row", "event_id"), on="source_row", how="inner"
    )
    generated = {
        int(r["source_row"]) - 1: _canonical_line(r, str(r["event_id"]))
        for r in idless.iter_rows(named=True)
    }
    return CheckedLines(errors, customers, generated)


def array_errors(body: bytes) -> list[tuple[int, str, str]]:
    """The batch path's reading errors of a JSON array it cannot split (syntax, cut off):
    (0-based position, rule, reason), from its exact record-by-record reader."""
    batch = parse_amberflo_json(body, REQUEST_URI, exact=True)
    return [(pos, rule, reason) for pos, (rule, reason) in sorted(_rejects(batch.rejects).items())]


def warm_up(written_at: datetime) -> None:
    """Check one made-up record: the first pass pays for imports and for building the
    contract's checks (about a second), which no request should wait for."""
    record = {
        "customerId": "warm-up", "meterApiName": "warm_up", "meterValue": 1,
        "meterTimeInMillis": int(written_at.timestamp() * 1000), "uniqueId": "warm-up",
    }  # fmt: skip
    checked = check_lines(json.dumps(record).encode() + b"\n", written_at)
    if checked.errors:
        raise RuntimeError(f"the gateway's warm-up record was rejected: {checked.errors}")
