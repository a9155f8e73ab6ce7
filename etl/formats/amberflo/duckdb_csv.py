"""Large Amberflo CSV exports typed by DuckDB in the warehouse's own connection, in one pass.

A clean export (the overwhelming majority) is read by DuckDB's CSV reader straight from its
file into a private table, and every *plain* row, one whose values need no rule to decide
(printable ASCII ids without surrounding blanks, a meterValue of at most 20 integer digits
and 12 decimals, meterTimeInMillis a 12- or 13-digit epoch in [2000-01-01, written + 1 day],
a uniqueId), is typed in SQL into its stored columns. Every other row (a missing or odd
value, a hashed id, Unicode to normalize) goes back to polars and takes the normalizer and
the contract like any chunk (`TypedPlan.leftover_batch`), so its event or its reject is
exactly what the chunked reader makes of it.

DuckDB and polars read RFC 4180 CSV alike only when the file is strictly formed. A file
that is not (a carriage return, a blank line, a quote that does not open or close a field, a
header DuckDB must not take as given) is refused (`strict_csv_file`, `csv_plan`) and
streams in chunks as before; so is a file DuckDB will not read (a ragged row, bytes that are
not UTF-8).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import polars as pl

from contracts.amberflo import AMBERFLO_FIELDS, A
from contracts.meter_event import EVENT_COLUMNS
from etl.formats.amberflo.fast import csv_records
from etl.formats.amberflo.normalize import MAX_FUTURE_SKEW, MIN_EVENT_MS, UNIT_SUFFIXES
from etl.formats.amberflo.records import (
    AMBERFLO_CSV_REQUIRED,
    MAX_DIMENSION_KEY,
    MAX_DIMENSIONS,
    RawBatch,
)
from etl.formats.detect import strip_bom
from etl.sources.streams import DecompressedStream

# Dimension names spliced into SQL text (as JSON keys) must be plain: letters, digits and a
# few separators, never a quote or a backslash. Any other header streams in chunks.
_SAFE_NAME = re.compile(rf"[A-Za-z0-9_.:/-]{{1,{MAX_DIMENSION_KEY}}}")


def plain_names(names: list[str]) -> bool:
    """True when every name may be spliced into SQL text as a JSON key and a struct field:
    letters, digits and a few separators, and no two alike but for case."""
    folded = {n.lower() for n in names}
    return len(folded) == len(names) and all(_SAFE_NAME.fullmatch(n) for n in names)


_SCAN_BYTES = 16 * 1024 * 1024
_QUOTE, _COMMA, _NEWLINE = ord('"'), ord(","), ord("\n")

# An id or a name that no rule can object to: printable ASCII (no control character, NFC as
# it is), no blank at either end, within the contract's lengths.
_PRINTABLE = "regexp_full_match({0}, '[!-~]([ -~]*[!-~])?') AND length({0}) <= {1}"
# A meterValue that is exact in DECIMAL(32, 12); one of at most 12 digits and 6 decimals
# takes DECIMAL(18, 6) first (DuckDB parses the narrow type several times faster).
_PLAIN_VALUE = "regexp_full_match({0}, '[0-9]{{1,20}}([.][0-9]{{1,12}})?')"
_NARROW_VALUE = "regexp_full_match({0}, '[0-9]{{1,12}}([.][0-9]{{1,6}})?')"


@dataclass(frozen=True)
class TypedPlan:
    """How DuckDB reads and types one large Amberflo export (SQL over the private raw table,
    one row per record, `rowid + 1` its source_row)."""

    read: str
    """The relation the raw table is made of; parameter: the file's path."""
    plain: str
    """True for a plain row of the raw table (parameter: the latest event time allowed, ms)."""
    typed: str
    """The stored columns of a plain row, in EVENT_COLUMNS order; parameter: source_uri."""
    longest_dimension: str
    """A raw row's longest dimension value (a file with one over the limit is refused), or
    "0" where `plain` bounds them itself."""
    leftover: str
    """The columns of a row that goes to polars: source_row and what `leftover_batch` reads."""
    leftover_batch: Callable[[pl.DataFrame, str], RawBatch]
    """Rows that are not plain (`leftover` columns) -> the raw records (and read rejects) the
    chunked reader makes of them, numbered by their place in the file; the file's URI."""
    kept: str = "*"
    """What the raw table keeps of each row of `read` (`_plain` beside it)."""
    dimension_keys: str | None = None
    """A plain raw row's dimension keys (a list), when `typed_for_keys` can do better than
    `typed` knowing the file's keys."""
    typed_for_keys: Callable[[list[str]], str] | None = None
    """`typed` for a file whose plain rows' dimension keys are all among the given ones
    (sorted, distinct even ignoring case, each a plain name)."""


def header_names(first: bytes) -> list[str] | None:
    """The stripped names of an unquoted header line, None when there is no such line."""
    line, newline, _ = strip_bom(first).partition(b"\n")
    if not newline or b'"' in line or b"\r" in line:
        return None
    try:
        return [name.strip() for name in line.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None


def csv_plan(first: bytes) -> TypedPlan | None:
    """The plan for an export whose first bytes are `first`, or None when its header asks
    for the chunked reader (quoted, repeated or unsafe names, no uniqueId, too many dimensions)."""
    names = header_names(first)
    if names is None or len(set(names)) != len(names) or A.uniqueId not in names:
        return None
    if not AMBERFLO_CSV_REQUIRED.issubset(names):
        return None
    dims = sorted(n for n in names if n not in AMBERFLO_FIELDS)
    if len(dims) > MAX_DIMENSIONS or not all(_SAFE_NAME.fullmatch(n) for n in dims):
        return None
    col = {name: f"c{i}" for i, name in enumerate(names)}
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in col.values())
    read = (
        "read_csv(?, auto_detect = false, header = false, skip = 1, delim = ',', quote = '\"', "
        f"escape = '\"', new_line = '\\n', columns = {{{types}}}, strict_mode = true, "
        "null_padding = false, encoding = 'utf-8')"
    )
    customer, meter, value = col[A.customerId], col[A.meterApiName], col[A.meterValue]
    millis, unique = col[A.meterTimeInMillis], col[A.uniqueId]
    plain = " AND ".join(
        [
            _PRINTABLE.format(customer, 512),
            _PRINTABLE.format(meter, 256),
            _PRINTABLE.format(unique, 512),
            _PLAIN_VALUE.format(value),
            f"regexp_full_match({millis}, '[0-9]{{12,13}}')",
            f"TRY_CAST({millis} AS BIGINT) BETWEEN {MIN_EVENT_MS} AND ?::BIGINT",
        ]
    )
    # Empty cells are NULL (DuckDB reads an empty field, quoted or not, as NULL) and are left out.
    dimensions = map_of_values([(d, col[d]) for d in dims])
    longest = " , ".join(f"coalesce(length({col[d]}), 0)" for d in dims)
    return TypedPlan(
        read=read,
        plain=plain,
        typed=typed_columns(
            "amberflo_csv",
            customer=customer,
            meter=meter,
            unique=unique,
            value=value,
            millis=millis,
            dimensions=dimensions,
            unit=col["unit"] if "unit" in dims else None,
        ),
        longest_dimension=f"greatest({longest}, 0)" if dims else "0",
        leftover=", ".join(["rowid + 1 AS source_row", *(f'{c} AS "{n}"' for n, c in col.items())]),
        leftover_batch=lambda frame, uri: _leftover_records(frame, dims, uri),
    )


def map_of_values(values: list[tuple[str, str]]) -> str:
    """The MAP(VARCHAR, VARCHAR) of (key, SQL expression of its text) pairs given in key
    order, a NULL value left out: built from JSON object text, which DuckDB turns into a MAP
    several times faster than it builds or sorts one from entries. No pairs: an empty MAP."""
    if not values:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    entries = ", ".join(
        f"""CASE WHEN {value} IS NOT NULL THEN '"{key}":' || to_json({value}) END"""
        for key, value in values
    )
    return f"""json_transform_strict('{{' || concat_ws(',', {entries}) || '}}', '"MAP(VARCHAR, VARCHAR)"')"""


def typed_columns(
    source_format: str,
    *,
    customer: str,
    meter: str,
    unique: str,
    value: str,
    millis: str,
    dimensions: str,
    unit: str | None,
) -> str:
    """The stored columns of a plain row (EVENT_COLUMNS, in order) from SQL expressions of its
    text values (a `unit` dimension's value, if any); parameter: source_uri."""
    time = f"make_timestamptz({millis}::BIGINT * 1000)"
    suffix = (
        "CASE "
        + " ".join(
            f"WHEN suffix({meter}, '{ending}') THEN '{name}'" for ending, name in UNIT_SUFFIXES
        )
        + " END"
    )
    money = "NULL::DECIMAL(38, 18)"
    stored = {
        "event_id": unique,
        "customer_id": customer,
        "meter_name": meter,
        "quantity": f"CASE WHEN {_NARROW_VALUE.format(value)} THEN {value}::DECIMAL(18, 6) "
        f"ELSE {value}::DECIMAL(32, 12) END::DECIMAL(38, 18)",
        "unit": f"coalesce({unit}, {suffix})" if unit else suffix,
        "event_time": time,
        "event_date": f"{time}::DATE",
        "dimensions": dimensions,
        "billed_cost": money,
        "effective_cost": money,
        "list_cost": money,
        "contracted_cost": money,
        "currency": "NULL::VARCHAR",
        "source_format": f"'{source_format}'",
        "source_uri": "?::VARCHAR",
        "source_row": "rowid + 1",
    }
    return ", ".join(f"{stored[c]} AS {c}" for c in EVENT_COLUMNS)


def latest_event_ms(written_at: datetime) -> int:
    """The latest meterTimeInMillis a file written at `written_at` may carry."""
    since_epoch = written_at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (since_epoch + MAX_FUTURE_SKEW) // _MILLISECOND


_MILLISECOND = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def strict_csv_file(path: str, uri: str, max_bytes: int) -> bool:
    """True when DuckDB reads the file at `path` exactly as the chunked reader would: no
    carriage return, no blank line, and every quote opens or closes a whole field."""

    with open(path, "rb") as handle:
        if DecompressedStream(handle, uri, max_bytes).gzipped:
            return False
        handle.seek(0)
        scan = StrictScan()
        first = True
        while block := handle.read(_SCAN_BYTES):
            if not scan.feed(strip_bom(block) if first else block):
                return False
            first = False
        return scan.end()


class StrictScan:
    """The file check over a file's bytes fed in blocks of any size.

    A quote is read by the state it is in: inside a quoted field or not is the parity of the
    quotes before it. A run of quotes that starts outside a field opens one and must follow a
    separator; one that ends outside closes one and must precede a separator; the rest are
    doubled quotes inside a field. Trailing quotes of a block wait for the next (their run
    may go on)."""

    def __init__(self) -> None:
        self._pending = b""
        self._before = _NEWLINE  # a file starts as after a line end: a leading newline is blank
        self._quotes = 0

    def feed(self, block: bytes) -> bool:
        body = self._pending + block if self._pending else block
        if b"\r" in block:
            return False
        data = np.frombuffer(body, dtype=np.uint8)
        lines = np.flatnonzero(data == _NEWLINE)
        if lines.size and (
            (lines[0] == 0 and self._before == _NEWLINE) or np.any(np.diff(lines) == 1)
        ):
            return False
        cut = len(body)
        while cut and body[cut - 1] == _QUOTE:
            cut -= 1
        self._pending = body[cut:]
        if not cut:
            return True
        whole = self._runs(data[:cut], last=False)
        self._before = body[cut - 1]
        return whole

    def end(self) -> bool:
        """After the last block: every quote in a whole field and none left open."""
        pending = np.frombuffer(self._pending, dtype=np.uint8)
        return self._runs(pending, last=True) and self._quotes % 2 == 0

    def _runs(self, data: np.ndarray, *, last: bool) -> bool:
        at = np.flatnonzero(data == _QUOTE)
        if not at.size:
            return True
        starts = np.flatnonzero(np.diff(at, prepend=-2) != 1)
        ends = np.append(starts[1:], at.size)
        parity = self._quotes % 2
        self._quotes += at.size
        # Runs with an even count of quotes before them open a field, with an even count up to
        # their end close one.
        first = at[starts[(starts & 1) == parity]]
        before = data[np.maximum(first - 1, 0)]
        before[first == 0] = self._before
        final = at[ends[(ends & 1) == parity] - 1]
        after = data[np.minimum(final + 1, data.size - 1)]
        if last:
            after[final == data.size - 1] = _NEWLINE
        return bool(
            np.all((before == _COMMA) | (before == _NEWLINE))
            and np.all((after == _COMMA) | (after == _NEWLINE))
        )


def _leftover_records(frame: pl.DataFrame, dimensions: list[str], uri: str) -> RawBatch:
    """Rows of the raw table that are not plain as the raw records the CSV reader makes of
    them, numbered by their row in the file."""
    batch = csv_records(frame, dimensions, uri)
    # The typed path refuses a file with a dimension value over the limit before this.
    assert batch is not None
    return replace(batch, records=batch.records.with_columns(frame.get_column(A.source_row)))
