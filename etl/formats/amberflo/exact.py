"""The record-by-record readers: exact text of every value, a precise reject for every bad row."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from contracts.amberflo import AMBERFLO_FIELDS
from etl.errors import FormatError
from etl.formats.amberflo.records import (
    RAW_PREVIEW,
    Collector,
    RawBatch,
    RowError,
    decode,
    dimension_entries,
    has_bad_bytes,
    loads_json,
)

TOO_DEEP = (
    "record nests JSON objects or arrays deeper than the reader allows; a meter record is flat "
    "(dimensions: one level of string values): fix the producer"
)
"""The reason of a record rejected by amberflo.json.depth."""


def read_ndjson_exact(data: bytes, uri: str) -> RawBatch:
    """One JSON record per line; a bad line is rejected, the others load."""
    out = Collector(uri)
    for number, line in enumerate(decode(data).split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if has_bad_bytes(line):
            out.rows_in += 1
            out.reject(
                number,
                None,
                "amberflo.encoding",
                "line is not valid UTF-8; re-export as UTF-8",
                line.encode("utf-8", "replace").decode(),
            )
            continue
        try:
            record = loads_json(line)
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                number,
                None,
                "amberflo.json.syntax",
                f"line is not valid JSON: {exc.msg} at column {exc.colno}",
                line,
            )
            continue
        except RecursionError:
            out.rows_in += 1
            out.reject(number, None, "amberflo.json.depth", TOO_DEEP, line)
            continue
        out.add_json(number, record, line)
    return out.batch()


def read_json_exact(data: bytes, uri: str) -> RawBatch:
    """A JSON array of records (a single object is taken as an array of one).

    Elements are decoded one at a time, so a file cut off mid-record still loads every
    complete record before the cut and rejects the rest with its position.
    """
    # Undecodable bytes stay surrogates, so the record holding them is rejected by name.
    text = decode(data)
    out = Collector(uri)
    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str)
    pos = _skip_ws(text, 0)
    if text.startswith("{", pos):
        try:
            record, end = decoder.raw_decode(text, pos)
        except RecursionError:
            out.rows_in += 1
            out.reject(1, None, "amberflo.json.depth", TOO_DEEP, text[pos : pos + RAW_PREVIEW])
            return out.batch()
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                1,
                None,
                "amberflo.json.syntax",
                f"record is not valid JSON: {exc.msg} at char {exc.pos}",
                text[pos : pos + RAW_PREVIEW],
            )
            return out.batch()
        out.add_json(1, record, text[pos:end])
        return out.batch()
    pos += 1  # past '['
    row = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            # Every complete record before the cut still loads.
            out.rows_in += 1
            out.reject(
                row + 1,
                None,
                "amberflo.json.truncated",
                f"JSON array ends without ']' after {row} records: the file is cut off; re-upload it",
                "",
            )
            break
        if text[pos] == "]":
            break
        row += 1
        try:
            record, end = decoder.raw_decode(text, pos)
        except RecursionError:
            # Where the record ends is unknown: the rest of the array cannot be read either.
            out.rows_in += 1
            out.reject(
                row,
                None,
                "amberflo.json.depth",
                f"record {row}: {TOO_DEEP}; the rest of the array cannot be read",
                text[pos : pos + RAW_PREVIEW],
            )
            break
        except json.JSONDecodeError as exc:
            out.rows_in += 1
            out.reject(
                row,
                None,
                "amberflo.json.syntax",
                f"record {row} is not valid JSON ({exc.msg} at char {exc.pos}); the rest of the array "
                "cannot be read: fix or re-upload the file",
                text[pos : pos + RAW_PREVIEW],
            )
            break
        out.add_json(row, record, text[pos:end])
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
    return out.batch()


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def read_csv_exact(data: bytes, uri: str) -> RawBatch:
    """CSV with a header row: the Amberflo fields as columns, every other column a dimension."""
    text = decode(data)
    out = Collector(uri)
    # The csv module refuses fields over 128 KiB by default; no cell can be longer than the
    # file, so every cell is read and judged by the rules (a dimension value over
    # MAX_DIMENSION_VALUE is rejected by amberflo.dimensions.length). The limit is
    # process-wide and only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return out.batch()
    header = [h.strip() for h in header]
    check_header(header, uri)
    field_index = {name: header.index(name) for name in AMBERFLO_FIELDS if name in header}
    dim_columns = [(i, h) for i, h in enumerate(header) if h not in AMBERFLO_FIELDS and h]
    unnamed = [i for i, h in enumerate(header) if not h]
    width = len(header)
    row = 0
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        row += 1
        out.rows_in += 1
        raw = ",".join(fields)
        if has_bad_bytes(raw):
            out.reject(
                row,
                None,
                "amberflo.encoding",
                "row is not valid UTF-8 (Latin-1 bytes?); re-export the file as UTF-8",
                raw.encode("utf-8", "replace").decode(),
            )
            continue
        raw = json.dumps(dict(zip(header, fields, strict=False)))
        if len(fields) != width:
            out.reject(
                row,
                None,
                "amberflo.csv.ragged",
                f"row has {len(fields)} fields but the header has {width}; check quoting and delimiters",
                raw,
            )
            continue
        stray = [i + 1 for i in unnamed if fields[i].strip()]
        if stray:
            out.reject(
                row,
                None,
                "amberflo.csv.unnamed_column",
                f"row has a value under column {stray[0]}, whose header is empty; name the "
                "column in the header (it becomes a dimension) or remove the value",
                raw,
            )
            continue
        values = [
            (fields[field_index[name]].strip() or None) if name in field_index else None
            for name in AMBERFLO_FIELDS
        ]
        try:
            # The same limits as JSON dimensions: empty cells are not dimensions.
            dims = dimension_entries({h: fields[i] for i, h in dim_columns if fields[i] != ""})
        except RowError as err:
            out.reject(row, err.column, err.rule, err.reason, raw)
            continue
        out.append(row, values, dims, raw)
    return out.batch()


def check_header(header: list[str], uri: str) -> None:
    """Refuse a CSV header that names a column twice: which of the two values a record means
    cannot be told (raises FormatError naming the columns)."""
    counts = Counter(h for h in header if h)
    twice = sorted(h for h, n in counts.items() if n > 1)
    if twice:
        raise FormatError(
            f"{uri}: the CSV header names column(s) {', '.join(repr(h) for h in twice)} more "
            "than once; which value a record means cannot be told: rename or drop the extra "
            "column(s) and upload the file again"
        )
