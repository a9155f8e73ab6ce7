"""A large FOCUS CSV export whose plain rows DuckDB types from its file (the rest handed back
to the FOCUS parser) leaves the warehouse exactly as the chunked reader does: the same line
items, events, duplicates, rejects (raw records included), conformance findings,
reconciliation, ledger counts and lake files.

Each generated export is loaded twice from a local folder, each file streaming (the chunk
size is far below the file): once as the ingest does it, once with the typed path turned off
(METERHOUSE_TYPED_LOAD=false). Rows are mostly plain, as real exports are (the shape of
bench/focus_exports.py), the others a plain row with one to three cells drawn from the values
each rule decides: money written with leading or trailing zeros, blanks, 13 or 19 places, 21
integer digits, exponents, null tokens; timestamps in every form the parser accepts and some it
does not, periods that end before they start; allowed values in the wrong case, legacy or
unknown; currencies to repair or reject; text padded, decomposed, with tabs, newlines or
Microsoft placeholders, too long for an id; units off the FOCUS format; tags that are blank,
nested, numeric, escaped, repeat a key, shadow a context key, are a key/value array or no JSON
at all. Rows repeat within a file and across files, as they are or differing in a column that
does not identify the charge, or written differently but equal once typed: content-identical
line items are distinct charges told apart by their position among equals. The header comes
in any column order, some with a provider `x_` column. Some files are also broken in ways
DuckDB must not be trusted with (CRLF, a blank line, a quote inside a field, bytes that are
not UTF-8, a ragged row, a byte-order mark): they load as the chunked reader loads them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import re
from collections.abc import Callable
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.focus import focus_columns
from etl.jobs.ingest import ingest
from etl.settings import Settings
from tests.integration._support import VOLATILE_COLUMNS, lake_digest, q, warehouse_digest
from tests.integration.test_typed_load import EXAMPLES

pytestmark = [pytest.mark.integration]

COLUMNS = list(focus_columns("1.0"))
EXTRA = "x_ServiceCode"  # a provider column: kept in x_extra

# ServiceName, ServiceCategory, SkuId, meter, unit, unit price, ResourceType, x_ServiceCode
SERVICES = [
    ("GPU Cloud", "Compute", "gpu-h100-sxm", "gpu_hours", "Hours", "2.10", "gpu", "GPU"),
    ("Block Storage", "Storage", "ceph-rbd-ssd", "block_storage_gb_months", "GB-Month", "0.08", "volume", "RBD"),
    ("Colocation Power", "Other", "power-kwh", "power_kwh", "kWh", "0.21", "", ""),
    ("Object Storage", "Storage", "s3-std", "object_gb_months", "GB-Month", "0.02", "bucket", "S3"),
]  # fmt: skip
ACCOUNTS = ["tenant-001", "tenant-002"]
TEAMS = ["research", "ml-platform"]
ENVS = ["prod", "staging"]
QUANTITIES = ["24.000", "102.109", "0.001", "1.000"]


def _plain(
    service: int, account: int, team: int, env: int, day: int, qty: str, n: int
) -> dict[str, str]:
    """A line item as bench/focus_exports.py writes one: a service of a sub-account for a day."""
    name, category, sku, meter, unit, price, rtype, code = SERVICES[service]
    cost = (Decimal(qty) * Decimal(price)).quantize(Decimal("1e-10"))
    effective = (cost * Decimal("0.95")).quantize(Decimal("1e-10"))
    row = dict.fromkeys(COLUMNS, "")
    row |= {
        "BilledCost": f"{cost}", "BillingAccountId": "dc-fra1", "BillingAccountName": "Example Org",
        "BillingCurrency": "USD", "BillingPeriodEnd": "2025-02-01T00:00:00Z",
        "BillingPeriodStart": "2025-01-01T00:00:00Z", "ChargeCategory": "Usage",
        "ChargeDescription": f"{meter} usage", "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": f"2025-01-{day + 1:02d}T00:00:00Z",
        "ChargePeriodStart": f"2025-01-{day:02d}T00:00:00Z", "ConsumedQuantity": qty,
        "ConsumedUnit": unit, "ContractedCost": f"{cost}", "ContractedUnitPrice": price,
        "EffectiveCost": f"{effective}", "InvoiceIssuerName": "Meterhouse DC GmbH",
        "ListCost": f"{cost}", "ListUnitPrice": price, "PricingCategory": "Standard",
        "PricingQuantity": qty, "PricingUnit": unit, "ProviderName": "Meterhouse DC",
        "PublisherName": "Meterhouse DC", "RegionId": "fra1", "RegionName": "fra1",
        "ResourceId": f"{sku}-{n}" if rtype else "", "ResourceName": f"{TEAMS[team]}-{meter}",
        "ResourceType": rtype, "ServiceCategory": category, "ServiceName": name, "SkuId": sku,
        "SkuPriceId": f"{sku}.std", "SubAccountId": ACCOUNTS[account], "SubAccountName": TEAMS[team],
        "Tags": json.dumps({"team": TEAMS[team], "env": ENVS[env]}, separators=(",", ":")),
        EXTRA: code,
    }  # fmt: skip
    return row


plain_row = st.builds(
    _plain,
    st.integers(0, len(SERVICES) - 1),
    st.integers(0, len(ACCOUNTS) - 1),
    st.integers(0, len(TEAMS) - 1),
    st.integers(0, len(ENVS) - 1),
    st.integers(1, 2),
    st.sampled_from(QUANTITIES),
    st.integers(0, 2),
)

MONEY = [
    "0", "1", "214.4297400000", "-3.5", "007.50", "1.5000000000000", "0.1234567890123",
    "0.1234567890123456789", "123456789012345678901", "1e3", "1.", ".5", " 2 ", "abc", "NULL",
    "null", "", "-0",
]  # fmt: skip
TIMES = [
    "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-01 00:00:00",
    "2025-01-01T00:00:00.5Z", "2025-01-01", "2025-02-30T00:00:00Z", "2025-01-01T00:00:00+02:00",
    "", "x",
]  # fmt: skip
TEXTS = [
    " padded ", "NULL", "", "cafe\u0301", "caf\u00e9", "Microsoft", "-2", "Unassigned", "a\tb",
    "line\nbreak", "x" * 600,
]  # fmt: skip
UNITS = ["kWh", "GB-Month", "Hours", "GB-Hours", "1000 Requests", "weird unit!", ""]
TAGS = [
    '{"team":"research","env":"staging"}', "{}", '{"team": "a", "env": "b"}', '{"a":"1","a":"2"}',
    '{"n":1.50}', '{"o":{"x":1}}', '{"q":"say \\"hi\\""}', '{"provider":"x"}', "{oops",
    '[{"key":"team","value":"a"},{"Key":"env","Value":"b"}]', "[1, 2]", '{"n":null,"b":true}',
    "", "NULL",
]  # fmt: skip
# The values each rule decides, per column (a plain row's value besides).
HOSTILE: dict[str, list[str]] = {
    **dict.fromkeys(
        ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
         "ContractedUnitPrice", "PricingQuantity", "ConsumedQuantity"],
        MONEY,
    ),
    **dict.fromkeys(
        ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"], TIMES
    ),
    "ChargeCategory": ["Usage", "Credit", "usage", " USAGE ", "Refund", ""],
    "ChargeClass": ["Correction", "correction", "Refund"],
    "ChargeFrequency": ["One-Time", "usage-based", "Daily", ""],
    "PricingCategory": ["Committed", "standard", "on-demand", "commitment-based", "Spot", ""],
    "ServiceCategory": ["Compute", "compute", "ai and machine learning", "Cloud", ""],
    "BillingCurrency": ["USD", "usd", " USD", "US", "", "EUR"],
    **dict.fromkeys(
        ["BillingAccountId", "SubAccountId", "ServiceName", "SkuId", "ResourceId", "ProviderName",
         "PublisherName", "InvoiceIssuerName", "BillingAccountName", "SubAccountName",
         "ChargeDescription", "RegionId", "SkuPriceId"],
        TEXTS,
    ),
    **dict.fromkeys(["PricingUnit", "ConsumedUnit"], UNITS),
    "Tags": TAGS,
}  # fmt: skip
# Microsoft fills nullable text columns with placeholders the parser clears.
MICROSOFT = [("ProviderName", "Microsoft"), ("ResourceId", "-2"), ("SubAccountName", "Unassigned")]

cell = st.sampled_from(sorted(HOSTILE)).flatmap(
    lambda c: st.tuples(st.just(c), st.sampled_from(HOSTILE[c]))
)


def _with(row: dict[str, str], cells: list[tuple[str, str]]) -> dict[str, str]:
    return row | dict(cells)


cells = st.lists(cell, min_size=1, max_size=3)
hostile_row = st.builds(_with, plain_row, st.one_of(cells, cells, cells, st.just(MICROSOFT)))
# Mostly plain rows, as real exports are.
file_row = st.one_of(plain_row, plain_row, plain_row, hostile_row)


def _respace(tags: str) -> str:
    try:
        return json.dumps(json.loads(tags))
    except json.JSONDecodeError:
        return tags


def _spaced(timestamp: str) -> str:
    return timestamp.replace("T", " ").removesuffix("Z")


def _cell(column: str, change: Callable[[str], str]) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda row: row | {column: change(row[column])}


# A repeated row: the same, or differing in a column that does not identify the charge, or
# written differently in one that does but equal once typed.
TWINS: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "same": dict,
    "InvoiceIssuerName NULL": _cell("InvoiceIssuerName", lambda v: "NULL"),
    "PublisherName empty": _cell("PublisherName", lambda v: ""),
    "BillingAccountName padded": _cell("BillingAccountName", lambda v: f" {v} "),
    "ResourceName long": _cell("ResourceName", lambda v: "x" * 600),
    "ListUnitPrice abc": _cell("ListUnitPrice", lambda v: "abc"),
    "ContractedUnitPrice negative": _cell("ContractedUnitPrice", lambda v: "-1"),
    "ServiceCategory lower": _cell("ServiceCategory", str.lower),
    "ServiceCategory unknown": _cell("ServiceCategory", lambda v: "Cloud"),
    "SubAccountName Unassigned": _cell("SubAccountName", lambda v: "Unassigned"),
    "BillingPeriodEnd before start": _cell("BillingPeriodEnd", lambda v: "2024-12-01T00:00:00Z"),
    "BilledCost padded": _cell("BilledCost", lambda v: f" {v} "),
    "BilledCost zeros": _cell("BilledCost", lambda v: f"00{v}0" if "." in v else f"00{v}.0"),
    "BillingCurrency lower": _cell("BillingCurrency", str.lower),
    "ChargeCategory lower": _cell("ChargeCategory", str.lower),
    "ChargePeriodStart spaced": _cell("ChargePeriodStart", _spaced),
    "Tags spaced": _cell("Tags", _respace),
    "ResourceId NULL": _cell("ResourceId", lambda v: v or "NULL"),
}
BREAKS = ["crlf", "blank line", "quote inside a field", "not utf-8", "ragged row", "bom"]


def _csv_line(values: list[str], newline: str) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline).writerow(values)
    return out.getvalue().encode()


# The line a break inserts is written by hand (what no CSV writer produces) from this row.
ODD = _plain(0, 0, 0, 0, 1, "1.000", 9) | {"Tags": ""}


def _render(rows: list[dict[str, str]], header: list[str], broken: str | None, at: int) -> bytes:
    """A FOCUS CSV of `rows` under `header`, broken (if at all) at line `at`."""
    newline = "\r\n" if broken == "crlf" else "\n"
    lines = [_csv_line(header, newline)]
    lines += [_csv_line([row[c] for c in header], newline) for row in rows]
    if broken == "blank line":
        lines.insert(at, b"\n")
    elif broken == "quote inside a field":
        odd = ODD | {"ResourceId": 'q"1'}
        lines.insert(at, ",".join(odd[c] for c in header).encode() + b"\n")
    elif broken == "not utf-8":
        odd = ODD | {"SubAccountName": "caf\xe9"}
        lines.insert(at, ",".join(odd[c] for c in header).encode("latin-1") + b"\n")
    elif broken == "ragged row":
        lines.insert(at, ",".join(ODD[c] for c in header[:5]).encode() + b"\n")
    body = b"".join(lines)
    return b"\xef\xbb\xbf" + body if broken == "bom" else body


@st.composite
def focus_exports(draw: st.DrawFn) -> dict[str, bytes]:
    """1-3 FOCUS 1.0 CSV files (name -> bytes) of 8-40 rows, mostly plain; rows repeat within
    a file and across files; some files broken in one of the ways BREAKS names."""
    files: dict[str, bytes] = {}
    earlier: list[dict[str, str]] = []
    for i in range(draw(st.integers(1, 3))):
        rows = draw(st.lists(file_row, min_size=8, max_size=34))
        for _ in range(draw(st.integers(0, 6))):
            twin = TWINS[draw(st.sampled_from(sorted(TWINS)))](
                draw(st.sampled_from(rows + earlier))
            )
            rows.insert(draw(st.integers(0, len(rows))), twin)
        header = draw(st.sampled_from(["canonical", "shuffled", "shuffled, x_ column"]))
        columns = COLUMNS if header == "canonical" else draw(st.permutations(COLUMNS))
        if header.endswith("x_ column"):
            columns = [*columns, EXTRA]
        broken = draw(st.one_of(st.none(), st.none(), st.sampled_from(BREAKS)))
        files[f"focus-{i}.csv"] = _render(rows, columns, broken, draw(st.integers(1, len(rows))))
        earlier += rows
    return files


def _load(folder: Path, root: Path, *, typed: bool) -> tuple[Settings, str | None]:
    """Ingest `folder` into a fresh warehouse under `root`, every file streaming; and the error
    that stopped the run, if one did (its paths made alike)."""
    # Chunks of a few rows: above the header line (which the first chunk must hold whole),
    # far below any file (8 rows or more).
    config = dataclasses.replace(
        Settings.from_env(root / "warehouse.duckdb"),
        chunk_bytes=2048,
        chunk_rows=3,
        focus_chunk_rows=3,
        typed_load=typed,
    )
    try:
        ingest([str(folder)], config)
    except Exception as exc:  # compared with the other load's
        return config, f"{type(exc).__name__}: {exc}".replace(str(root), "<warehouse>")
    return config, None


# When a row was written: besides VOLATILE_COLUMNS, when a load marked a lake day pending
# (left behind only by a run an error stopped before the lake was published).
WRITTEN = VOLATILE_COLUMNS | {"appended_since"}


def _rows(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    columns = [c for (c, *_) in q(settings.warehouse_path, f'DESCRIBE "{table}"')]
    keep = ", ".join(f'"{c}"' for c in columns if c not in WRITTEN)
    return q(settings.warehouse_path, f'SELECT {keep} FROM "{table}" ORDER BY ALL')  # noqa: S608 - names from the catalog


def _same_warehouse(a: Settings, b: Settings) -> None:
    # Every table, write times aside (warehouse_digest covers focus_line_items,
    # focus_conformance and focus_reconciliation; VOLATILE_COLUMNS leaves out ingested_at,
    # found_at, reconciled_at, rejected_at, loaded_at and the ledger's attempts). Unlike an
    # Amberflo reject, whose raw_record is the line's own text or the record re-rendered
    # depending on the reader its chunk took, a FOCUS reject's raw_record is always the row as
    # the FOCUS parser read it, rendered as JSON under the header's names ("" kept as ""), or
    # null for a row the event contract rejects: no column may differ.
    typed, chunked = warehouse_digest(a.warehouse_path), warehouse_digest(b.warehouse_path)
    assert typed.keys() == chunked.keys()
    for table in sorted(typed):
        if typed[table] != chunked[table]:
            assert _rows(a, table) == _rows(b, table), table
    # The lake: meter_events by day and the published tables (focus_line_items, rejects...).
    assert lake_digest(a.lake_path) == lake_digest(b.lake_path)


def _load_typed_and_chunked(
    root: Path,
    files: dict[str, bytes],
    caplog: pytest.LogCaptureFixture | None = None,
    *,
    strict: bool = True,
) -> tuple[Settings, set[str]]:
    """Load `files` (name -> body) both ways, check both warehouses agree, and return the
    typed load's settings and (given `caplog`) the names of the files it typed. Unless
    `strict`, a run may stop on an error, the same both ways."""
    folder = root / "exports"
    folder.mkdir()
    for name, body in files.items():
        (folder / name).write_bytes(body)
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline") if caplog else nullcontext():
        typed, stopped = _load(folder, root / "typed", typed=True)
    # A file is typed when the typed load says so and does not refuse it afterwards.
    said = [m for m in _messages(caplog) if m.startswith("step=typed ")]
    refused = {_file_of(m) for m in said if "refused=" in m}
    taken = {_file_of(m) for m in said} - refused
    chunked, chunked_stopped = _load(folder, root / "chunked", typed=False)
    # A run an error stops (a file's own failure is in the ledger, not raised) must stop on
    # the same error, with the same rows stored before it.
    assert stopped == chunked_stopped
    assert stopped is None or not strict, stopped
    _same_warehouse(typed, chunked)
    return typed, taken


def _messages(caplog: pytest.LogCaptureFixture | None) -> list[str]:
    return [r.getMessage() for r in (caplog.records if caplog else [])]


def _file_of(message: str) -> str:
    """The file name of a `step=... source=<uri> ...` message."""
    return message.split()[1].rsplit("/", 1)[1]


def _plain_rows(caplog: pytest.LogCaptureFixture, name: str) -> int:
    """How many rows of file `name` the typed load typed in SQL (its `step=typed` message)."""
    said = [m for m in _messages(caplog) if m.startswith("step=typed ") and _file_of(m) == name]
    counts = [int(m.group(1)) for m in map(re.compile(r" plain_rows=(\d+)").search, said) if m]
    assert len(counts) == 1, said
    return counts[0]


@EXAMPLES
@given(files=focus_exports())
def test_typed_focus_loads_what_the_chunked_reader_loads(
    files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _load_typed_and_chunked(tmp_path_factory.mktemp("typed-focus"), files, strict=False)


def _export(rows: list[dict[str, str]], *, crlf: bool = False) -> bytes:
    return _render(rows, COLUMNS, "crlf" if crlf else None, 1)


# Thirty distinct plain line items: every service, both accounts, both days, a resource each.
PLAIN = [
    _plain(i % 4, i // 4 % 2, i // 8 % 2, i % 2, 1 + i // 16 % 2, QUANTITIES[i % 4], i % 3)
    for i in range(30)
]


def test_a_clean_focus_export_is_typed_and_a_crlf_one_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The typed path is taken for a clean export and refused for the same rows with CRLF
    line endings; both warehouses agree (the CRLF copy's rows are duplicates of the clean
    file's, content ids and all)."""
    files = {"clean.csv": _export(PLAIN), "crlf.csv": _export(PLAIN, crlf=True)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"clean.csv"}
    assert _plain_rows(caplog, "clean.csv") == 30
    assert q(typed.warehouse_path, "SELECT count(*) FROM focus_line_items") == [(60,)]
    assert q(typed.warehouse_path, "SELECT count(*), count(DISTINCT event_id) FROM meter_events") == [(30, 30)]  # fmt: skip
    assert q(typed.warehouse_path, "SELECT count(*) FROM duplicate_events") == [(30,)]


def test_a_typed_export_whose_events_another_file_stores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two clean exports of the same rows are both typed: the second's events are stored
    whole as duplicates of the first's (only their keys are staged before the merge)."""
    files = {"a.csv": _export(PLAIN), "b.csv": _export(PLAIN)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"a.csv", "b.csv"}
    assert q(
        typed.warehouse_path,
        """SELECT source_uri LIKE '%/a.csv', count(*) FILTER (customer_id IS NOT NULL
               AND meter_name IS NOT NULL AND cardinality(dimensions) > 0), count(*)
           FROM meter_events GROUP BY ALL""",
    ) == [(True, 30, 30)]
    assert q(
        typed.warehouse_path,
        """SELECT duplicate_of_uri LIKE '%/a.csv', source_uri LIKE '%/b.csv', conflict,
                  count(*) FILTER (customer_id IS NOT NULL AND billed_cost IS NOT NULL), count(*)
           FROM duplicate_events GROUP BY ALL""",
    ) == [(True, True, False, 30, 30)]


def test_a_header_written_otherwise_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A header name with a blank around it or in another case is the parser's to rename, and
    a rejected row's raw record keeps the name as written: such a file streams, as the chunked
    reader reads it."""
    body = _export([*PLAIN[:10], PLAIN[10] | {"BilledCost": "abc"}])
    files = {
        "padded.csv": body.replace(b"BilledCost", b" BilledCost", 1),
        "cased.csv": body.replace(b"BilledCost", b"billedcost", 1),
    }
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == set()
    records = q(typed.warehouse_path, "SELECT raw_record FROM rejected_rows ORDER BY source_uri")
    assert [
        json.loads(r)["billedcost" if i == 0 else " BilledCost"] for i, (r,) in enumerate(records)
    ] == ["abc", "abc"]


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for m in _messages(caplog) if "refused=" in m]


def test_hostile_rows_mixed_in_are_left_to_the_parser(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file of plain rows, some repeated, with hostile ones mixed in is typed, the hostile
    rows handed back to the parser: their rejects, findings and repairs are the chunked
    reader's."""
    hostile = [
        ("BilledCost", "abc"), ("BilledCost", "0.1234567890123456789"),
        ("EffectiveCost", "123456789012345678901"), ("BilledCost", "007.50"), ("BilledCost", "1e3"),
        ("ListCost", "NULL"), ("ListUnitPrice", "-3.5"), ("PricingQuantity", " 2 "),
        ("ConsumedQuantity", "1.5000000000000"), ("ChargePeriodStart", "2025-02-30T00:00:00Z"),
        ("ChargePeriodEnd", "2025-01-01T00:00:00Z"), ("BillingPeriodStart", "2025-01-01"),
        ("ChargePeriodStart", "2025-01-01T00:00:00+02:00"), ("ChargeCategory", "usage"),
        ("PricingCategory", "on-demand"), ("ServiceCategory", "Cloud"), ("BillingCurrency", "usd"),
        ("BillingCurrency", "US"), ("SubAccountId", "x" * 600), ("ServiceName", "cafe\u0301"),
        ("ProviderName", "NULL"), ("ChargeDescription", "line\nbreak"),
        ("PricingUnit", "weird unit!"), ("Tags", "{oops"), ("Tags", '{"a":"1","a":"2"}'),
        ("Tags", '{"provider":"x"}'), ("Tags", '[{"key":"team","value":"a"}]'),
        *MICROSOFT[1:],
    ]  # fmt: skip
    rows = [*PLAIN, *PLAIN[:10]]
    # Each hostile row a charge of its own (no plain row's content, once typed).
    for i, (column, value) in enumerate(hostile):
        row = PLAIN[i] | {"ResourceId": f"hostile-{i}", column: value}
        microsoft = (column, value) in MICROSOFT
        rows.insert(2 * i + 1, row | {"ProviderName": "Microsoft"} if microsoft else row)
    files = {"mixed.csv": _export(rows)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"mixed.csv"}, _refusals(caplog)
    # A rejected row is never plain: what the parser rejects, it was handed.
    rejected = q(typed.warehouse_path, "SELECT count(*) FROM rejected_rows")[0][0]
    assert rejected > 0 and 0 < _plain_rows(caplog, "mixed.csv") <= len(rows) - rejected
    rules = {r for (r,) in q(typed.warehouse_path, "SELECT DISTINCT rule FROM rejected_rows")}
    assert rules == {
        "focus.BilledCost.decimal", "focus.BilledCost.precision", "focus.EffectiveCost.precision",
        "focus.ChargePeriodStart.timestamp", "focus.ChargePeriodStart.before_end",
        "focus.BillingCurrency.format", "focus.ProviderName.not_null",
        "contract.MeterEvent.customer_id.str_length(1, 512)",
    }  # fmt: skip
    found = {r for (r,) in q(typed.warehouse_path, "SELECT DISTINCT rule FROM focus_conformance")}
    assert found >= {
        "focus.ListCost.not_null", "focus.ListUnitPrice.non_negative",
        "focus.ServiceCategory.allowed_values", "focus.PricingUnit.unit_format",
        "focus.Tags.key_value_format",
    }  # fmt: skip
    repaired = q(
        typed.warehouse_path,
        'SELECT DISTINCT "ChargeCategory", "PricingCategory", "BillingCurrency" FROM focus_line_items',
    )
    assert repaired == [("Usage", "Standard", "USD")]


def test_repeated_rows_stay_distinct_charges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain line item repeated through a file is as many charges, each copy told apart by
    its position among equals as the chunked reader tells them apart. Copies that are all
    plain are typed in SQL; a file where a copy needs the parser (a hostile value in a column
    that does not identify the charge, or the same charge written otherwise) is refused, since
    the two readers would count positions apart, and loads in chunks."""

    def copies_of(resource: str, twins: list[str]) -> list[dict[str, str]]:
        rows = list(PLAIN)
        repeated = _plain(1, 1, 1, 1, 2, "102.109", 0) | {"ResourceId": resource}
        for i, kind in enumerate(twins):
            rows.insert(4 * i, TWINS[kind](repeated))
        return [*rows, repeated]

    plain = copies_of("repeated-plain", ["same", "same"])
    # A hostile row of other content does not stop the file being typed.
    plain.insert(5, TWINS["ListUnitPrice abc"](PLAIN[3] | {"ResourceId": "another"}))
    twins = copies_of(
        "repeated-twins",
        ["same", "same", "InvoiceIssuerName NULL", "ListUnitPrice abc", "BilledCost zeros",
         "ChargePeriodStart spaced", "Tags spaced", "BillingPeriodEnd before start"],
    )  # fmt: skip
    files = {"plain.csv": _export(plain), "twins.csv": _export(twins)}
    typed, taken = _load_typed_and_chunked(tmp_path, files, caplog)
    assert taken == {"plain.csv"}, _refusals(caplog)
    assert _plain_rows(caplog, "plain.csv") == len(plain) - 1
    [refused] = [m for m in _refusals(caplog) if _file_of(m) == "twins.csv"]
    # The three copies the parser reads (NULL, a bad ListUnitPrice, zeros) share a charge.
    assert "has the content of a row typed in SQL (3 rows)" in refused
    counted = (
        'SELECT count(*), count(DISTINCT event_id) FROM focus_line_items WHERE "ResourceId" = ?'
    )
    assert q(typed.warehouse_path, counted, ["repeated-plain"]) == [(3, 3)]
    # Nine copies, one rejected (its billing period ends before it starts): eight charges.
    assert q(typed.warehouse_path, counted, ["repeated-twins"]) == [(8, 8)]


def test_an_export_of_several_row_groups_read_in_parallel_is_typed_in_file_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """400,000 line items (past row 150,001, every 100th repeats the row 150,001 back) and three
    rows the parser rejects: DuckDB reads the file on several threads and the merge writes
    several row groups, with no line item from the parser beside them. Every line item and
    event keeps its own row number (a raw table out of file order fails this), all are
    stored and reconciled (an empty INSERT before the large one hides its rows from the rest
    of the merge: this fails), and identical rows are distinct charges."""
    import duckdb

    from bench.exports import ExportSpec
    from bench.focus_exports import copy_focus

    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "focus-large.csv"
    with duckdb.connect() as con:
        copy_focus(con, ExportSpec(events=400_000, fmt="focus"), 0, 400_000, path)
    header = path.read_text().split("\n", 1)[0].split(",")
    odd = {"BilledCost": "abc", "ChargePeriodStart": "x", "BillingCurrency": "US"}
    with path.open("a") as out:
        for i, (column, value) in enumerate(odd.items()):
            row = dict.fromkeys(header, "")
            row |= {
                "BilledCost": "1.5", "BillingAccountId": "dc-fra1", "BillingCurrency": "USD",
                "BillingPeriodStart": "2025-01-01T00:00:00Z",
                "BillingPeriodEnd": "2025-02-01T00:00:00Z", "ChargeCategory": "Usage",
                "ChargePeriodStart": "2025-01-02T00:00:00Z",
                "ChargePeriodEnd": "2025-01-03T00:00:00Z", "ContractedCost": "1.5",
                "EffectiveCost": "1.5", "ListCost": "1.5", "ProviderName": "Meterhouse DC",
                "ServiceCategory": "Other", "ServiceName": "Colocation Power",
                "ResourceId": f"odd-{i}", column: value,
            }  # fmt: skip
            out.write(",".join(row[h] for h in header) + "\n")
    config = dataclasses.replace(
        Settings.from_env(tmp_path / "warehouse.duckdb"), chunk_bytes=1024 * 1024
    )
    with caplog.at_level(logging.INFO, logger="meterhouse.pipeline"):
        ingest([str(folder)], config)
    assert f"step=typed source={path} plain_rows=400000 duplicates=0" in _messages(caplog)
    ledger = "SELECT status, rows_in, events_loaded, duplicates, rejected FROM ingest_ledger"
    assert q(config.warehouse_path, ledger) == [("loaded", 400_003, 400_000, 0, 3)]
    # Row i of the export (source_row i + 1) names resource i, or i - 150,001 for a copy.
    misplaced = """
        SELECT count(*) FILTER (regexp_extract(r, '-([0-9]+)$', 1)::BIGINT
                                NOT IN (source_row - 1, source_row - 150002)),
               count(*), count(DISTINCT event_id)
        FROM (SELECT {resource} AS r, source_row, event_id FROM {table})
        WHERE NOT starts_with(r, 'odd-')"""
    items = misplaced.format(resource='"ResourceId"', table="focus_line_items")
    events = misplaced.format(resource="dimensions['resource_id']", table="meter_events")
    assert q(config.warehouse_path, items) == [(0, 400_000, 400_000)]
    assert q(config.warehouse_path, events) == [(0, 400_000, 400_000)]
    copies = """SELECT count(*) FROM (SELECT "ResourceId" FROM focus_line_items
                GROUP BY ALL HAVING count(*) = 2)"""
    assert q(config.warehouse_path, copies) == [(2_500,)]
    rejected = "SELECT source_row, rule FROM rejected_rows ORDER BY 1"
    assert q(config.warehouse_path, rejected) == [
        (400_001, "focus.BilledCost.decimal"),
        (400_002, "focus.ChargePeriodStart.timestamp"),
        (400_003, "focus.BillingCurrency.format"),
    ]
