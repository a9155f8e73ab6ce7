"""Large FOCUS CSV exports typed by DuckDB in the warehouse's own connection, in one pass.

A clean export is read by DuckDB's CSV reader straight from its file into a private table
(every value as text), and every *plain* row, one whose values need no rule to decide, is
typed in SQL into its line item and its meter event. A plain row has:
- money, prices and quantities of at most 20 integer digits and 18 decimals, no sign but a
  leading minus (none on unit prices, which must not be negative), no exponent, no blank;
- timestamps written `YYYY-MM-DDTHH:MM:SSZ` (19xx or 20xx, a real date and time), each
  period's start before its end;
- allowed values (ChargeCategory, ServiceCategory, ...) written exactly as the spec does, a
  BillingCurrency of three capital letters, units of printable ASCII;
- Tags null or a JSON object of strings without escapes, each key once, none named like a
  FOCUS context key;
- every mandatory column filled, no text that is a null token (`NULL`, blanks) or JSON text
  column filled, a provider that is not Microsoft (whose placeholders are cleaned), a
  PricingCurrency equal to BillingCurrency;
- a customer and a meter of printable ASCII within the meter-event contract's lengths.
Such a row has no reject and no repair: the parser would keep its values as written. The two
conformance findings real exports carry most, a unit off the FOCUS UnitFormat and a column
the spec requires left null (`SOFT_NOT_NULL`), are recorded in SQL as the parser records them
(`FocusPlan.findings`). Every other row goes back to the parser (`parse_focus_text`) in
chunks, so its line item, its event, its reject or its findings are exactly what the chunked
reader makes of it.

A file is typed only when its header names canonical FOCUS columns and nothing else (no
renamed, provider or unknown column), when DuckDB reads it as polars does
(`etl.formats.amberflo.duckdb_csv.strict_csv_file`), and when no row left to the parser
carries the content of a plain row (their positions among equals would be counted apart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import polars as pl

from contracts.focus import (
    ALLOWED_VALUES,
    FOCUS_LINE_ITEM_SCHEMA,
    FOCUS_MODELS,
    SOFT_NOT_NULL,
    UNIT_COLUMNS,
    mandatory_columns,
)
from contracts.meter_event import EVENT_COLUMNS
from etl.errors import ContractViolation
from etl.formats.amberflo.duckdb_csv import header_names
from etl.formats.detect import strip_bom
from etl.formats.focus.cast import UNIT_FORMAT
from etl.formats.focus.columns import (
    ALL_DTYPES,
    DATETIME_COLUMNS,
    DECIMAL_COLUMNS,
    JSON_TEXT_COLUMNS,
    KEY_VALUE_COLUMNS,
    F,
    canonical_name,
)
from etl.formats.focus.events import CONTEXT_DIMENSIONS, CONTEXT_KEYS, EVENT_ID_COLUMNS
from etl.formats.focus.header import detect_focus_version

_MONEY = "DECIMAL(38, 18)"
# DuckDB parses text into DECIMAL(18, s) many times faster than into a 128-bit DECIMAL(38, s):
# a value of at most 6 integer digits and 12 decimals takes the narrow type first (exact).
_NARROW = "-?[0-9]{1,6}([.][0-9]{1,12})?"
_TIME = "(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
_STRPTIME = "'%Y-%m-%dT%H:%M:%SZ'"
# What the parser strips around a value (Unicode White_Space, within this class) and the
# null tokens: a value made only of these is null to the parser.
_BLANK = r"[\s\p{Z}\x00-\x1f\x7f-\x9f]"
_TOKEN = f"{_BLANK}*((NULL|null){_BLANK}*)?"
# A JSON object of strings without escapes or control characters, blanks where JSON writers
# put them.
_JSON_STRING = r'"[^"\\\x00-\x1f]*"'
_TAGS = rf"\{{ ?({_JSON_STRING} ?: ?{_JSON_STRING}( ?, ?{_JSON_STRING} ?: ?{_JSON_STRING})*)? ?\}}"
_ASCII = "[ -~]"

_MODEL_13 = FOCUS_MODELS["1.3"].to_schema().columns
_NON_NEGATIVE: Final = frozenset(
    name
    for name, column in _MODEL_13.items()
    if any(check.name == "greater_than_or_equal_to" for check in column.checks)
)
_TEXT_KEY = "chr(31)"


@dataclass(frozen=True)
class FocusPlan:
    """How DuckDB reads and types one large FOCUS CSV export: SQL over the private raw table
    (one row per data row, `rowid + 1` its source_row, one VARCHAR column per header cell)."""

    version: str
    """The FOCUS version the header says."""
    customer_from: str
    """The column customer ids come from (BillingAccountId where it is null)."""
    read: str
    """The relation the raw table is made of; parameter: the file's path."""
    plain: str
    """True for a plain row of the raw table."""
    key: Callable[[str], str]
    """A plain row's content key (the text its event_id hashes), from the raw table's columns
    and the SQL expression given of its Tags' key text (`tag_keys` joined on `tags_text`)."""
    tags_text: str
    """A row's Tags text in the raw table (a null text when the file has no Tags column)."""
    tag_keys: Callable[[str], str]
    """The key text of each distinct Tags text of the plain rows (columns text, key_text), from
    the raw table named."""
    line_items: str
    """A plain row's line-item columns (FOCUS_LINE_ITEM_SCHEMA order) from the raw table's
    columns, `rid` (its rowid) and `_source_uri`."""
    amounts: str
    """A plain row's source_row, currency and cost text, for the file's own money totals."""
    event_date: str
    """A plain row's event date (the UTC day of its ChargePeriodStart) from the raw table."""
    leftover: str
    """The columns of a row that goes to the parser: source_row, then each header cell's text."""
    findings: tuple[tuple[str, str, str, str], ...] = ()
    """The conformance findings a plain row may carry: (column, rule, the raw-table condition
    of a row that has it, the value recorded)."""


def focus_plan(first: bytes, customer_from: str) -> FocusPlan | None:
    """The plan for a FOCUS CSV export whose first bytes are `first`, or None when its header
    asks for the parser (a quoted, renamed, repeated, provider or unknown column, a missing
    mandatory one)."""
    names = header_names(first)
    if names is None or len(set(names)) != len(names):
        return None
    # Exactly the spec's names, without blanks around them: the parser keeps a header as
    # written (a rejected row's raw record names its columns so).
    written = strip_bom(first).partition(b"\n")[0].decode("utf-8").split(",")
    if written != names or any(canonical_name(n) != n for n in names):
        return None
    try:
        version = detect_focus_version(names)
    except ContractViolation:
        return None
    if not set(mandatory_columns(version)).issubset(names):
        return None
    primary = canonical_name(customer_from)
    if primary is None or ALL_DTYPES[primary] != pl.String:
        return None
    col = {name: f"c{i}" for i, name in enumerate(names)}
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in col.values())
    read = (
        "read_csv(?, auto_detect = false, header = false, skip = 1, delim = ',', quote = '\"', "
        f"escape = '\"', new_line = '\\n', columns = {{{types}}}, strict_mode = true, "
        "null_padding = false, encoding = 'utf-8')"
    )
    typed = {name: _typed(name, col.get(name)) for name in ALL_DTYPES}
    typed["_provider"] = f"coalesce({typed[F.ServiceProviderName]}, {typed[F.ProviderName]})"
    return FocusPlan(
        version=version,
        customer_from=primary,
        read=read,
        plain=_plain(version, col, primary),
        key=lambda tag_key: _plain_key(col, typed, tag_key),
        tags_text=col.get(F.Tags, "NULL::VARCHAR"),
        tag_keys=lambda raw: _tag_keys(col.get(F.Tags), raw),
        line_items=_line_items(version, typed),
        amounts=(
            f"rowid + 1 AS source_row, {col[F.BillingCurrency]} AS currency, "
            f"{col[F.BilledCost]} AS billed_cost, {col[F.EffectiveCost]} AS effective_cost"
        ),
        # A plain timestamp is UTC (`_TIME`): its text's date is the event's.
        event_date=f"strptime({col[F.ChargePeriodStart]}, {_STRPTIME})::DATE",
        leftover=", ".join(
            ["rowid + 1 AS source_row", *(f"coalesce({c}, '') AS \"{n}\"" for n, c in col.items())]
        ),
        findings=_findings(version, col),
    )


def _findings(version: str, col: dict[str, str]) -> tuple[tuple[str, str, str, str], ...]:
    """The findings a plain row may carry, as the parser records them: a unit not in the
    FOCUS UnitFormat (the value as written), a column the spec requires left null."""
    units = tuple(
        (name, f"focus.{name}.unit_format",
         f"{col[name]} IS NOT NULL AND NOT regexp_full_match({col[name]}, '{UNIT_FORMAT}')",
         f"substring({col[name]}, 1, 200)")
        for name in UNIT_COLUMNS if name in col
    )  # fmt: skip
    missing = tuple(
        (name, f"focus.{name}.not_null", f"{col[name]} IS NULL", "NULL::VARCHAR")
        for name in SOFT_NOT_NULL[version]
        if name in col
    )
    return units + missing


def _typed(name: str, text: str | None) -> str:
    """The typed value of column `name` of a plain row, from its text (None: not in the file)."""
    if text is None:
        return f"NULL::{_sql_type(name)}"
    if name in DECIMAL_COLUMNS:
        return (
            f"CASE WHEN regexp_full_match({text}, '{_NARROW}') THEN {text}::DECIMAL(18, 12) "
            f"ELSE {text}::{_MONEY} END::{_MONEY}"
        )
    if name in DATETIME_COLUMNS:
        return f"timezone('UTC', strptime({text}, {_STRPTIME}))"
    if name in KEY_VALUE_COLUMNS:
        return f"""json_transform_strict({text}, '"MAP(VARCHAR, VARCHAR)"')"""
    return text


def _sql_type(name: str) -> str:
    if name in DECIMAL_COLUMNS:
        return _MONEY
    if name in DATETIME_COLUMNS:
        return "TIMESTAMPTZ"
    if name in KEY_VALUE_COLUMNS:
        return "MAP(VARCHAR, VARCHAR)"
    return "VARCHAR"


def _plain(version: str, col: dict[str, str], primary: str) -> str:
    """The raw-table condition of a plain row (see the module's docstring)."""
    model = FOCUS_MODELS[version].to_schema().columns
    required = {n for n, c in model.items() if not c.nullable}
    rules: list[str] = []
    for name, x in col.items():
        if name in required:
            rules.append(f"{x} IS NOT NULL")
        if name in DECIMAL_COLUMNS:
            sign = "" if name in _NON_NEGATIVE else "-?"
            value = f"regexp_full_match({x}, '{sign}[0-9]{{1,20}}([.][0-9]{{1,18}})?')"
        elif name in DATETIME_COLUMNS:
            value = (
                f"regexp_full_match({x}, '{_TIME}') AND try_strptime({x}, {_STRPTIME}) IS NOT NULL"
            )
        elif name in KEY_VALUE_COLUMNS:
            keys = f"json_keys({x})"
            context = ", ".join(f"'{k}'" for k in CONTEXT_KEYS)
            # CASE, not AND: DuckDB may evaluate both sides of an AND, and JSON functions
            # raise on text that is no JSON.
            value = (
                f"CASE WHEN regexp_full_match({x}, '{_TAGS}') THEN len({keys}) = "
                f"len(list_distinct({keys})) AND NOT list_has_any({keys}, [{context}]) ELSE false END"
            )
        elif name in JSON_TEXT_COLUMNS:
            value = "false"
        elif name in ALLOWED_VALUES:
            # Not `IN (...)`: DuckDB plans a long IN list as a join, which loses the file's
            # row order in the raw table (its rowid is the source row).
            value = (
                f"list_contains([{', '.join(sql_string(v) for v in ALLOWED_VALUES[name])}], {x})"
            )
        elif name == F.BillingCurrency:
            value = f"regexp_full_match({x}, '[A-Z]{{3}}')"
        elif name in UNIT_COLUMNS:
            # Printable ASCII, where DuckDB's and the parser's UnitFormat patterns agree (a
            # blank is a space to both): its finding, if any, is recorded in SQL.
            value = (
                f"NOT regexp_full_match({x}, '{_TOKEN}') AND regexp_full_match({x}, '{_ASCII}*')"
            )
        else:
            value = f"NOT regexp_full_match({x}, '{_TOKEN}')"
        rules.append(f"({x} IS NULL OR ({value}))")
    for start, end in (
        (F.BillingPeriodStart, F.BillingPeriodEnd),
        (F.ChargePeriodStart, F.ChargePeriodEnd),
    ):
        # Written alike (`_TIME`), the texts order as the times do.
        rules.append(f"{col[start]} < {col[end]}")
    provider = col[F.ProviderName]
    rules.append(
        f"regexp_full_match({provider}, '{_ASCII}*') AND NOT starts_with(lower({provider}), 'microsoft')"
    )
    if F.PricingCurrency in col:
        pricing = col[F.PricingCurrency]
        rules.append(f"({pricing} IS NULL OR {pricing} = {col[F.BillingCurrency]})")
    customer = f"coalesce({col.get(primary, 'NULL')}, {col[F.BillingAccountId]})"
    meter = ", ".join(col[c] for c in (F.SkuMeter, F.SkuId, F.ServiceName) if c in col)
    rules.append(f"regexp_full_match({customer}, '{_ASCII}{{1,512}}')")
    rules.append(f"regexp_full_match(coalesce({meter}), '{_ASCII}{{1,256}}')")
    return " AND ".join(rules)


def sql_string(value: str) -> str:
    """`value` as an SQL string literal (where a parameter cannot go: a list, a view)."""
    return "'" + value.replace("'", "''") + "'"


def content_key(texts: dict[str, str]) -> str:
    """The text a line item's event_id hashes (with its position among equal rows): as
    etl.formats.focus.events writes it, from SQL expressions of each EVENT_ID_COLUMNS value's
    text (`key_texts`), null as NUL, joined by unit separators."""
    parts = ", ".join(f"coalesce({texts[name]}, chr(0))" for name in EVENT_ID_COLUMNS)
    return f"concat_ws({_TEXT_KEY}, {parts})"


def key_texts(typed: dict[str, str]) -> dict[str, str]:
    """Each EVENT_ID_COLUMNS value as the key writes it, from SQL expressions of the typed
    values (`_provider` among them)."""
    texts = {}
    for name in EVENT_ID_COLUMNS:
        value = typed[name]
        if name in DATETIME_COLUMNS:
            texts[name] = _timestamp_text(value)
        elif name in DECIMAL_COLUMNS:
            texts[name] = _decimal_key(value)
        elif name in KEY_VALUE_COLUMNS:
            texts[name] = _tags_key(value)
        else:
            texts[name] = value
    return texts


def _plain_key(col: dict[str, str], typed: dict[str, str], tag_key: str) -> str:
    """`content_key` of a plain row from its text where that is quicker and the same: a
    plain timestamp is written as the key writes it, a decimal of at most 6 integer digits
    and 12 decimals is its DECIMAL(18, 12) text, and the Tags' key text is `tag_key`, computed
    once per distinct Tags text (`tag_keys`): few distinct ones repeat."""
    texts = key_texts(typed)
    for name in texts.keys() & col.keys():
        x = col[name]
        if name in DATETIME_COLUMNS:
            texts[name] = x
        elif name in DECIMAL_COLUMNS:
            texts[name] = (
                f"CASE WHEN regexp_full_match({x}, '{_NARROW}') THEN {x}::DECIMAL(18, 12)::VARCHAR "
                f"ELSE {texts[name]} END"
            )
        elif name in KEY_VALUE_COLUMNS:
            texts[name] = tag_key
    return content_key(texts)


def _tag_keys(tags: str | None, raw: str) -> str:
    """The key text of each distinct Tags text of the plain rows of the table `raw`."""
    if tags is None:
        return "SELECT NULL::VARCHAR AS text, NULL::VARCHAR AS key_text LIMIT 0"
    key = _tags_key(_typed(F.Tags, "text"))
    distinct = f"SELECT DISTINCT {tags} AS text FROM {raw} WHERE _plain AND {tags} IS NOT NULL"  # noqa: S608 - own names
    return f"SELECT text, {key} AS key_text FROM ({distinct})"  # noqa: S608 - own names


def _decimal_key(value: str) -> str:
    # As when money had 12 places, whenever the value fits them.
    twelve = f"{value}::DECIMAL(38, 12)"
    return f"CASE WHEN {twelve} = {value} THEN {twelve}::VARCHAR ELSE {value}::VARCHAR END"


def _tags_key(value: str) -> str:
    pair = "e -> e.key || '=' || coalesce(e.value, chr(0))"
    return f"array_to_string(list_sort(list_transform(map_entries({value}), {pair})), chr(30))"


def _timestamp_text(value: str) -> str:
    """`%Y-%m-%dT%H:%M:%S%.fZ` as the parser writes it: a fraction of 3 or 6 digits, only
    when there is one."""
    utc = f"timezone('UTC', {value})"
    micros = f"(microsecond({utc}) % 1000000)"
    fraction = (
        f"CASE WHEN {micros} = 0 THEN '' "
        f"WHEN {micros} % 1000 = 0 THEN '.' || lpad(({micros} // 1000)::VARCHAR, 3, '0') "
        f"ELSE '.' || lpad({micros}::VARCHAR, 6, '0') END"
    )
    return f"strftime({utc}, '%Y-%m-%dT%H:%M:%S') || {fraction} || 'Z'"


def _line_items(version: str, typed: dict[str, str]) -> str:
    """A plain row's line-item columns, in FOCUS_LINE_ITEM_SCHEMA order."""
    stored = {
        **typed,
        "x_extra": "MAP {}::MAP(VARCHAR, VARCHAR)",
        "x_focus_version": f"'{version}'",
        "source_uri": "_source_uri",
        "source_row": "rid + 1",
    }
    return ", ".join(f'{stored[c]} AS "{c}"' for c in FOCUS_LINE_ITEM_SCHEMA)


def plain_events(primary: str, tags_text: str) -> str:
    """The meter-event columns of typed plain rows (EVENT_COLUMNS order, without event_id:
    the stage holds it), as etl.formats.focus.events makes them: dimensions are the tags,
    then the FOCUS context. `tags_text` is a row's Tags text: a plain row's is a JSON object
    of strings without escapes, whose keys are unique and none a context key, so its members
    are written into the dimensions' JSON as they are."""
    tags = f"nullif(trim({tags_text}[2:-2]), '')"
    context = ", ".join(
        f"""CASE WHEN {_context(c)} IS NOT NULL THEN '"{k}":' || to_json({_context(c)}) END"""
        for k, c in CONTEXT_DIMENSIONS
    )
    dimensions = (
        f"""json_transform_strict('{{' || concat_ws(',', {tags}, {context}) || '}}', """
        """'"MAP(VARCHAR, VARCHAR)"')"""
    )
    consumed, priced = '"ConsumedQuantity" IS NOT NULL', '"PricingQuantity" IS NOT NULL'
    stored = {
        "customer_id": f'coalesce("{primary}", "BillingAccountId")',
        "meter_name": 'coalesce("SkuMeter", "SkuId", "ServiceName")',
        "quantity": f'CASE WHEN {consumed} THEN "ConsumedQuantity" WHEN {priced} '
        f'THEN "PricingQuantity" ELSE 0::{_MONEY} END',
        "unit": f'CASE WHEN {consumed} THEN "ConsumedUnit" WHEN {priced} THEN "PricingUnit" END',
        "event_time": '"ChargePeriodStart"',
        "event_date": """timezone('UTC', "ChargePeriodStart")::DATE""",
        "dimensions": dimensions,
        "billed_cost": '"BilledCost"',
        "effective_cost": '"EffectiveCost"',
        "list_cost": '"ListCost"',
        "contracted_cost": '"ContractedCost"',
        "currency": '"BillingCurrency"',
        "source_format": "'focus_csv'",
        "source_uri": "source_uri",
        "source_row": "source_row",
    }
    return ", ".join(f"{stored[c]} AS {c}" for c in EVENT_COLUMNS if c != "event_id")


def _context(column: str) -> str:
    if column == "_provider":
        return 'coalesce("ServiceProviderName", "ProviderName")'
    return f'"{column}"'


def stored_key() -> str:
    """`content_key` of a staged line item (typed columns by name)."""
    typed = {name: f'"{name}"' for name in ALL_DTYPES}
    typed["_provider"] = _context("_provider")
    return content_key(key_texts(typed))
