"""A large FOCUS CSV export staged by DuckDB straight from its file (etl.formats.focus.typed):
its plain rows typed in SQL into line items and events, the others handed back to the FOCUS
parser as chunks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

import polars as pl

from contracts.focus_conformance import FINDING_COLUMNS
from contracts.meter_event import EVENT_COLUMNS, EVENT_SCHEMA, REJECT_COLUMNS, REJECT_SCHEMA
from etl.formats.focus.typed import FocusPlan, plain_events, sql_string, stored_key
from etl.warehouse.connection import Connection
from etl.warehouse.dedup import prepare_events
from etl.warehouse.load import Staged
from etl.warehouse.records import Chunk
from etl.warehouse.schema import EVENT_KEY
from etl.warehouse.typed import TypedReadRefused, leftover_frames

log = logging.getLogger("meterhouse.pipeline")

_FINDING_COLUMNS = ", ".join([*FINDING_COLUMNS, "found_at"])
_STAGED_COLUMNS = ", ".join(
    ["event_id", "event_date", "source_format", "source_uri", "source_row", "ingested_at"]
    + ["event_key", "from_line_items"]
)


def stage_typed_focus(
    con: Connection,
    stage: str,
    now: datetime,
    *,
    plan: FocusPlan,
    path: str,
    uri: str,
    delivery_key: str,
    customer_from: str,
    leftover: Callable[[pl.DataFrame], Chunk],
    batch_rows: int,
) -> Staged:
    """Read the file at `path` into `<stage>_raw`, stage its plain rows' events (`<stage>`)
    and findings, and return their counts, the chunks of the file (first the plain rows' money
    text, for the file's own totals, then what `leftover` makes of the other rows,
    `batch_rows` at a time) and the view of the plain rows' line items the merge stores."""
    import duckdb

    raw, keys = f"{stage}_raw", f"{stage}_keys"
    try:
        con.execute(
            f"""CREATE TEMP TABLE {raw} AS SELECT *, coalesce({plan.plain}, false) AS _plain
                FROM {plan.read}""",  # noqa: S608 - the plan's SQL, own name
            [path],
        )
    except (duckdb.InvalidInputException, duckdb.NotImplementedException) as exc:
        # A ragged row, bytes that are not UTF-8, a line DuckDB's parallel reader cannot hold.
        raise TypedReadRefused(f"{uri}: {' '.join(str(exc).split())[:200]}") from exc
    # Content ids: the key's text with the row's position among rows of equal content (only
    # rows whose key hash repeats are ranked, on the full text). Tags' key text is joined by
    # their text: a scalar subquery per row took three times as long.
    tags = f"{stage}_tags"
    con.execute(f"CREATE TEMP TABLE {tags} AS {plan.tag_keys(raw)}")
    con.execute(
        f"""CREATE TEMP TABLE {keys} AS
            SELECT rid, key_text, hash(key_text) AS h, event_date
            FROM (SELECT r.rowid AS rid, {plan.key("t.key_text")} AS key_text,
                         {plan.event_date} AS event_date
                  FROM {raw} r LEFT JOIN {tags} t ON t.text = {plan.tags_text} WHERE _plain)""",  # noqa: S608
    )
    con.execute(f"DROP TABLE {tags}")
    # The plain rows' events: what the duplicate lookups read is staged, the rest typed from
    # the file's text when the merge stores them (`Staged.events`).
    con.execute(
        f"""INSERT INTO {stage} ({_STAGED_COLUMNS})
            SELECT event_id, event_date, 'focus_csv', ?, rid + 1, ?::TIMESTAMPTZ, {EVENT_KEY}, true
            FROM (
                SELECT k.rid, k.event_date,
                       'focus:' || sha256(k.key_text || chr(29) || coalesce(o.ordinal, 0)::VARCHAR) AS event_id
                FROM {keys} k LEFT JOIN (
                    SELECT rid, row_number() OVER (PARTITION BY key_text ORDER BY rid) - 1 AS ordinal
                    FROM {keys} WHERE h IN (SELECT h FROM {keys} GROUP BY h HAVING count(*) > 1)
                ) o USING (rid))""",  # noqa: S608
        [uri, now],
    )
    # The plain rows typed from the file's text when the merge stores them (a typed copy
    # staged first would be written twice): their line items, and their events.
    typed = f"{stage}_plain_typed"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {typed} AS
            SELECT {plan.line_items}, {sql_string(delivery_key)} AS delivery_key,
                   {sql_string(now.isoformat())}::TIMESTAMPTZ AS ingested_at,
                   {plan.tags_text} AS _tags_text
            FROM (SELECT rowid AS rid, *, {sql_string(uri)} AS _source_uri FROM {raw} WHERE _plain)""",  # noqa: S608 - the plan's SQL, own names, quoted literals
    )
    for column, rule, where, value in plan.findings:
        found = con.execute(
            f"""INSERT INTO {stage}_findings ({_FINDING_COLUMNS})
                SELECT ?, rowid + 1, ?, ?, {value}, ?::TIMESTAMPTZ FROM {raw} WHERE _plain AND {where}""",  # noqa: S608 - the plan's SQL, own name
            [uri, column, rule, now],
        ).fetchone()
        if found and found[0]:
            log.warning(
                "step=validate source=%s focus_version=%s warning=%s: %d rows (conformance "
                "finding; rows kept) among the rows typed in SQL",
                uri, plan.version, rule, found[0],
            )  # fmt: skip
    amounts = con.execute(f"SELECT {plan.amounts} FROM {raw} WHERE _plain").pl()  # noqa: S608
    plain = amounts.height
    chunks = _chunks(con, stage, plan, amounts, leftover, batch_rows)
    events = f"SELECT {plain_events(customer_from, '_tags_text')}, ingested_at FROM {typed}"  # noqa: S608
    line_items = f"""SELECT t.* EXCLUDE (_tags_text), s.event_id FROM {typed} t
                     JOIN {stage} s ON s.from_line_items AND s.source_row = t.source_row"""  # noqa: S608 - own names
    return Staged((plain, plain, 0, 0), chunks, line_items=line_items, events=events)


def _chunks(
    con: Connection,
    stage: str,
    plan: FocusPlan,
    amounts: pl.DataFrame,
    leftover: Callable[[pl.DataFrame], Chunk],
    batch_rows: int,
) -> Iterator[Chunk]:
    raw, keys = f"{stage}_raw", f"{stage}_keys"
    yield Chunk(
        0,
        prepare_events(pl.DataFrame(schema=EVENT_SCHEMA).select(EVENT_COLUMNS)),
        pl.DataFrame(schema=REJECT_SCHEMA).select(REJECT_COLUMNS),
        focus_amounts=amounts,
    )
    del amounts
    for frame in leftover_frames(con, raw, plan.leftover, batch_rows):
        yield leftover(frame)
    # A row left to the parser with the content of a plain row: its position among equals
    # was counted apart from theirs.
    shared = con.execute(
        f"""SELECT count(DISTINCT l.source_row) FROM (
              SELECT source_row, {stored_key()} AS key_text FROM {stage}_focus
              WHERE source_row IN (SELECT rowid + 1 FROM {raw} WHERE NOT _plain)) l
            JOIN {keys} k ON k.h = hash(l.key_text) AND k.key_text = l.key_text""",  # noqa: S608
    ).fetchone()
    if shared and shared[0]:
        raise TypedReadRefused(
            f"a row the FOCUS parser reads has the content of a row typed in SQL ({shared[0]} rows)"
        )
    # The file's text stays for the merge (`Staged.line_items`); the keys are let go.
    con.execute(f"DROP TABLE {keys}")
