"""The baseline: meterhouse's job written as the plain DuckDB SQL a good engineer would write,
with no Python per row, under the same memory bound (DuckDB's memory_limit, spilling past it).

Amberflo exports (bench/baseline_amberflo.sql): read every file of the folder as text in file
order, type and check each row in one pass (the same rules as etl.formats.amberflo.normalize:
missing customer/meter, meterValue not a non-negative number with at most 12 decimals,
meterTimeInMillis not an integer of epoch ms since 2000 and at most a day in the future), build
the MAP dimensions, keep one copy per event id by meterhouse's duplicate rule (earliest
event_time, then source_uri, then source_row), write `meter_events` with the same exact types
(DECIMAL(38, 18) quantities and money),
the date-partitioned Parquet lake and a daily rollup. FOCUS exports (focus_script): the typed
line items with their content ids, the events, the same dedup, lake and rollup.

Where DuckDB has a much faster way to the same exact value, the baseline takes it, as
meterhouse does: text into DECIMAL(18, s) before widening, MAPs built from JSON object text,
duplicates found on narrow columns.

What it does not do, and meterhouse does: a ledger, per-file transactions, a rejected_rows table
with one reason per row, a duplicate_events table for promotion, pandera contracts.
The format-specific SQL only splices constants of this module, never data.
"""

# SQL here is spliced only from this package's constants, integers and the cache's own paths
# (COPY targets cannot be parameters), never from data read from the exports.
# ruff: noqa: S608

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.exports import DIMENSIONS

MIN_EVENT_MS = 946_684_800_000

_UNIT = """CASE
    WHEN meter LIKE '%\\_gb\\_hours' ESCAPE '\\' THEN 'GB-Hours'
    WHEN meter LIKE '%\\_gb\\_months' ESCAPE '\\' THEN 'GB-Months'
    WHEN meter LIKE '%\\_gb\\_days' ESCAPE '\\' THEN 'GB-Days'
    WHEN meter LIKE '%\\_hours' ESCAPE '\\' THEN 'Hours'
    WHEN meter LIKE '%\\_seconds' ESCAPE '\\' THEN 'Seconds'
    WHEN meter LIKE '%\\_kwh' ESCAPE '\\' THEN 'kWh'
    WHEN meter LIKE '%\\_gb' ESCAPE '\\' THEN 'GB'
    WHEN meter LIKE '%\\_tb' ESCAPE '\\' THEN 'TB'
    WHEN meter LIKE '%\\_requests' ESCAPE '\\' THEN 'Requests'
    WHEN meter LIKE '%\\_count' ESCAPE '\\' THEN 'Count'
END"""


MEMORY_LIMIT = "1500MB"
"""DuckDB's memory limit for the baseline: past it, DuckDB spills to its temp directory (the same
bound meterhouse is held to, < 2 GiB peak)."""

_AMBERFLO_SQL = Path(__file__).with_name("baseline_amberflo.sql")


def _amberflo_reader(src: Path, fmt: str) -> tuple[str, str]:
    """(the raw read, the MAP dimensions expression over it) for CSV or NDJSON exports."""
    if fmt == "csv":
        reader = f"""SELECT filename AS source_uri, *
            FROM read_csv('{src}/*.csv', header = true, all_varchar = true)"""
        # DuckDB builds a MAP from JSON object text several times faster than from a list of
        # entries; empty cells are left out of the object.
        entries = ", ".join(
            f"""CASE WHEN "{d}" <> '' THEN '"{d}":' || to_json("{d}") END""" for d in DIMENSIONS
        )
        text = f"'{{' || concat_ws(',', {entries}) || '}}'"
        return reader, f"""json_transform({text}, '"MAP(VARCHAR, VARCHAR)"')"""
    reader = f"""SELECT filename AS source_uri, *
        FROM read_json('{src}/*.ndjson', format = 'newline_delimited',
          columns = {{customerId: 'VARCHAR', meterApiName: 'VARCHAR', meterValue: 'VARCHAR',
                     meterTimeInMillis: 'VARCHAR', uniqueId: 'VARCHAR',
                     dimensions: 'MAP(VARCHAR, VARCHAR)'}})"""
    return reader, "coalesce(r.dimensions, MAP {})"


def amberflo_script(src: Path, fmt: str, work: Path) -> list[str]:
    """The baseline's SQL statements for an Amberflo export folder, in order."""
    reader, dimensions = _amberflo_reader(src, fmt)
    limit_ms = int((datetime.now(tz=UTC) + timedelta(days=1)).timestamp() * 1000)
    text = _AMBERFLO_SQL.read_text().format(
        memory_limit=MEMORY_LIMIT,
        temp_directory=work / "duckdb_tmp",
        reader=reader,
        dimensions=dimensions,
        min_event_ms=MIN_EVENT_MS,
        max_event_ms=limit_ms,
        unit_case=_UNIT,
        fmt=fmt,
        lake=work / "lake" / "meter_events",
    )
    statements = []
    for chunk in text.split(";\n"):
        code = "\n".join(line for line in chunk.splitlines() if not line.lstrip().startswith("--"))
        if code.strip():
            statements.append(code)
    return statements


_FOCUS_KEY_COLUMNS = (
    "ProviderName", "BillingAccountId", "SubAccountId", "BillingPeriodStart", "ChargePeriodStart",
    "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ChargeFrequency", "ServiceName",
    "ResourceId", "SkuId", "SkuPriceId", "ChargeDescription", "RegionId", "AvailabilityZone",
    "CommitmentDiscountId", "CommitmentDiscountStatus", "PricingCategory", "BillingCurrency",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity", "PricingUnit",
    "ConsumedQuantity", "ConsumedUnit", "Tags",
)  # fmt: skip
_FOCUS_CONTEXT = (
    ("provider", "ProviderName"), ("billing_account_id", "BillingAccountId"),
    ("sub_account_id", "SubAccountId"), ("service_category", "ServiceCategory"),
    ("service_name", "ServiceName"), ("region_id", "RegionId"), ("resource_id", "ResourceId"),
    ("charge_category", "ChargeCategory"), ("charge_class", "ChargeClass"),
    ("pricing_category", "PricingCategory"), ("sku_id", "SkuId"),
)  # fmt: skip
_FOCUS_MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
                "ContractedUnitPrice", "ListUnitPrice", "ConsumedQuantity", "PricingQuantity")  # fmt: skip
_FOCUS_TIMES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")


FOCUS_MONEY_TYPE = "DECIMAL(38, 18)"
"""The type meterhouse stores FOCUS money and quantities in."""


def _exact_decimal(column: str) -> str:
    """`column` (text) as FOCUS_MONEY_TYPE. DuckDB 1.5 parses text into a 128-bit DECIMAL(38, s)
    about 30x slower than into DECIMAL(18, s): values with at most 6 integer digits and 12
    decimals take the narrow type first (exact, then widened)."""
    value = f'trim("{column}")'
    return (
        f"CASE WHEN regexp_full_match({value}, '[+-]?[0-9]{{1,6}}([.][0-9]{{1,12}})?') "
        f"THEN TRY_CAST({value} AS DECIMAL(18, 12))::{FOCUS_MONEY_TYPE} "
        f"ELSE TRY_CAST({value} AS {FOCUS_MONEY_TYPE}) END"
    )


def focus_script(src: Path, work: Path) -> list[str]:
    """The baseline's SQL statements for a folder of FOCUS CSV exports, in order: the files as
    text (rowid = place in the export), the typed line items with their content ids (the
    occurrence of identical rows within a file counted on a narrow table), the events,
    keep-first dedup of ids repeated across files, and the lake (events by day, line items)."""
    money = ", ".join(f'{_exact_decimal(c)} AS "{c}"' for c in _FOCUS_MONEY)
    times = ", ".join(f'TRY_CAST("{c}" AS TIMESTAMPTZ) AS "{c}"' for c in _FOCUS_TIMES)
    key = (
        "concat_ws('\\x1f', "
        + ", ".join(f"coalesce(\"{c}\", '\\0')" for c in _FOCUS_KEY_COLUMNS)
        + ")"
    )
    # Dimensions: the tags, then the context columns (over a tag of the same name), built as
    # JSON object text (DuckDB's map_concat of two MAPs costs ~15x more).
    context_keys = ", ".join(f"'{k}'" for k, _ in _FOCUS_CONTEXT)
    tags = (
        'nullif(array_to_string(list_transform(list_filter(map_entries("Tags"), '
        f"e -> e.key NOT IN ({context_keys})), e -> to_json(e.key) || ':' || to_json(e.value)), ','), '')"
    )
    context = ", ".join(
        f"""CASE WHEN "{c}" IS NOT NULL THEN '"{k}":' || to_json("{c}"::VARCHAR) END"""
        for k, c in _FOCUS_CONTEXT
    )
    dimensions = f"""json_transform('{{' || concat_ws(',', {tags}, {context}) || '}}', '"MAP(VARCHAR, VARCHAR)"')"""
    return [
        f"SET memory_limit = '{MEMORY_LIMIT}'",
        f"SET temp_directory = '{work / 'duckdb_tmp'}'",
        f"""CREATE TEMP TABLE raw AS SELECT filename AS source_uri, *
            FROM read_csv('{src}/*.csv', header = true, all_varchar = true)""",
        # Past here no statement needs rows written in the order they are read (rid is the raw
        # rowid, equal rows are numbered by an ORDER BY): DuckDB's threads write as they go.
        "SET preserve_insertion_order = false",
        f"""CREATE TEMP TABLE line_keys AS
            SELECT rid, source_uri, key_text, hash(key_text) AS h
            FROM (SELECT rowid AS rid, source_uri, {key} AS key_text FROM raw)""",
        # Equal rows are numbered by a window over the rows whose key hash repeats in their
        # file, not over every row (the others are first and only: 0).
        """CREATE TEMP TABLE line_ids AS
            SELECT k.rid, k.rid - f.first_rid + 1 AS source_row,
                   'focus:' || sha256(k.key_text || '\\x1d' || coalesce(o.ordinal, 0)::VARCHAR) AS event_id
            FROM line_keys k
            JOIN (SELECT source_uri, min(rid) AS first_rid FROM line_keys GROUP BY source_uri) f USING (source_uri)
            LEFT JOIN (
                SELECT rid, row_number() OVER (PARTITION BY source_uri, h ORDER BY rid) - 1 AS ordinal
                FROM line_keys
                WHERE (source_uri, h) IN (
                    SELECT (source_uri, h) FROM line_keys GROUP BY ALL HAVING count(*) > 1)
            ) o USING (rid)""",
        f"""CREATE TABLE focus_line_items AS
            SELECT r.* REPLACE ({money}, {times},
                                TRY_CAST(json(r."Tags") AS MAP(VARCHAR, VARCHAR)) AS "Tags"),
                   i.source_row, i.event_id
            FROM raw AS r JOIN line_ids AS i ON r.rowid = i.rid""",
        f"""CREATE TABLE meter_events AS
            SELECT event_id, coalesce("SubAccountId", "BillingAccountId") AS customer_id,
                   coalesce("SkuId", "ServiceName") AS meter_name,
                   coalesce("ConsumedQuantity", "PricingQuantity", 0) AS quantity,
                   CASE WHEN "ConsumedQuantity" IS NOT NULL THEN "ConsumedUnit" ELSE "PricingUnit" END AS unit,
                   "ChargePeriodStart" AS event_time,
                   ("ChargePeriodStart" AT TIME ZONE 'UTC')::DATE AS event_date,
                   {dimensions} AS dimensions,
                   "BilledCost" AS billed_cost, "EffectiveCost" AS effective_cost,
                   "ListCost" AS list_cost, "ContractedCost" AS contracted_cost,
                   "BillingCurrency" AS currency, 'focus_csv' AS source_format, source_uri,
                   source_row, now() AS ingested_at, md5_number(event_id) AS event_key
            FROM focus_line_items
            WHERE "BilledCost" IS NOT NULL AND "ChargePeriodStart" IS NOT NULL""",
        """DELETE FROM meter_events WHERE rowid IN (
            SELECT rowid FROM meter_events
            QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY event_time, source_uri, source_row) > 1)""",
        f"""COPY (SELECT * EXCLUDE (event_key) FROM meter_events)
            TO '{work / "lake" / "meter_events"}'
            (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd, OVERWRITE_OR_IGNORE,
             ROW_GROUP_SIZE 20000)""",
        # The line items are published too, as meterhouse's lake holds them.
        f"""COPY focus_line_items TO '{work / "lake" / "focus_line_items.parquet"}'
            (FORMAT parquet, COMPRESSION zstd)""",
    ]


def _step_name(statement: str) -> str:
    """A phase name for a statement of the script: its verb and target (`CREATE TABLE meter_events`)."""
    words = statement.split()
    return " ".join(words[: 4 if words[:2] in (["CREATE", "TEMP"], ["CREATE", "TABLE"]) else 2])


def run_baseline(src: Path, fmt: str, work: Path) -> dict[str, Any]:
    """Run the whole job into `work` (a DuckDB file and a lake); returns counts and phase times."""
    import duckdb

    phases: dict[str, float] = {}
    con = duckdb.connect(str(work / "baseline.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = t = time.perf_counter()
    statements = focus_script(src, work) if fmt == "focus" else amberflo_script(src, fmt, work)
    deleted = 0
    (work / "lake").mkdir(parents=True, exist_ok=True)
    for statement in statements:
        step = time.perf_counter()
        result = con.execute(statement).fetchall()
        if statement.lstrip().startswith("DELETE"):
            deleted = int(result[0][0])
        name = _step_name(statement)
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - step
    rows_in = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    valid = con.execute("SELECT count(*) FROM meter_events").fetchone()[0] + deleted
    t = time.perf_counter()
    con.execute(
        """CREATE TABLE daily_usage AS
           SELECT event_date, customer_id, meter_name, unit, count(*) AS events, sum(quantity) AS quantity
           FROM meter_events GROUP BY ALL"""
    )
    phases["rollup"] = time.perf_counter() - t
    work_seconds = time.perf_counter() - started
    # The check of the result is not part of the job's time.
    events, quantity = con.execute("SELECT count(*), sum(quantity) FROM meter_events").fetchone()
    con.close()
    return {
        "rows_in": int(rows_in),
        "events_loaded": int(events),
        "duplicates": int(valid) - int(events),
        "rejected": int(rows_in) - int(valid),
        "quantity": str(quantity),
        "phases": phases,
        "work_seconds": work_seconds,
    }
