"""The baseline: meterhouse's job written as plain DuckDB SQL, with no Python per row.

Read every file of the folder, normalize to the meter event columns, drop invalid rows (the
same rules as etl.formats.amberflo.normalize: missing customer/meter, meterValue not a finite non-negative number
with at most 12 decimals, meterTimeInMillis not an integer of epoch ms since 2000 and at most a
day in the future), deduplicate on event_id (first file in name order, then first row, wins),
write `meter_events`, the date-partitioned Parquet lake and a daily rollup.

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


def _amberflo_raw(con: Any, src: Path, fmt: str) -> None:
    if fmt == "csv":
        dims = ", ".join(f"struct_pack(key := '{d}', value := \"{d}\")" for d in DIMENSIONS)
        reader = f"""SELECT filename AS source_uri, customerId, meterApiName, meterValue,
                       meterTimeInMillis, uniqueId,
                       map_from_entries(list_filter([{dims}], e -> e.value IS NOT NULL AND e.value <> ''))
                         AS dimensions
                FROM read_csv('{src}/*.csv', header = true, all_varchar = true, filename = true)"""
    else:
        reader = f"""SELECT filename AS source_uri, customerId, meterApiName, meterValue,
                       meterTimeInMillis, uniqueId, coalesce(dimensions, MAP {{}}) AS dimensions
                FROM read_json('{src}/*.ndjson', format = 'newline_delimited', filename = true,
                  columns = {{customerId: 'VARCHAR', meterApiName: 'VARCHAR', meterValue: 'VARCHAR',
                             meterTimeInMillis: 'VARCHAR', uniqueId: 'VARCHAR',
                             dimensions: 'MAP(VARCHAR, VARCHAR)'}})"""
    con.execute(f"CREATE TEMP TABLE raw AS {reader}")


def _amberflo_events(con: Any, fmt: str) -> None:
    limit_ms = int((datetime.now(tz=UTC) + timedelta(days=1)).timestamp() * 1000)
    con.execute(
        """CREATE TEMP TABLE trimmed AS
        SELECT rowid AS rid, source_uri, dimensions,
               nullif(trim(customerId), '') AS customer,
               nullif(trim(meterApiName), '') AS meter,
               trim(meterValue) AS value_text,
               coalesce(regexp_full_match(trim(meterValue), '[+-]?[0-9]{1,12}([.][0-9]{1,6})?'), false) AS fits,
               TRY_CAST(trim(meterTimeInMillis) AS BIGINT) AS ms,
               nullif(trim(uniqueId), '') AS unique_id
        FROM raw"""
    )
    # DuckDB 1.5 parses text into DECIMAL(38, s) (a 128-bit integer) ~50x slower than into
    # DECIMAL(18, s): values that fit the narrow type exactly take it. In one statement with the
    # trimming above the optimizer evaluates the slow cast for every row, hence two statements.
    con.execute(
        """CREATE TEMP TABLE typed AS
        SELECT rid, source_uri, dimensions, customer, meter,
               CASE WHEN fits THEN TRY_CAST(value_text AS DECIMAL(18, 6))::DECIMAL(38, 12)
                    ELSE TRY_CAST(value_text AS DECIMAL(38, 12)) END AS quantity,
               CASE WHEN NOT fits THEN TRY_CAST(value_text AS DECIMAL(38, 24)) END AS quantity_fine,
               ms, unique_id
        FROM trimmed"""
    )
    con.execute(
        f"""CREATE TEMP TABLE valid AS
        SELECT rid, source_uri,
               coalesce(unique_id, 'sha256:' || left(sha256(concat_ws('|', customer, meter,
                        quantity::VARCHAR, ms::VARCHAR, dimensions::VARCHAR)), 40)) AS event_id,
               customer AS customer_id, meter AS meter_name, quantity,
               coalesce(dimensions['unit'], {_UNIT}) AS unit,
               make_timestamptz(ms * 1000) AS event_time,
               dimensions
        FROM typed
        WHERE customer IS NOT NULL AND meter IS NOT NULL AND quantity IS NOT NULL
          AND quantity >= 0 AND (quantity_fine IS NULL OR quantity_fine = quantity::DECIMAL(38, 24))
          AND ms IS NOT NULL AND ms >= {MIN_EVENT_MS} AND ms <= {limit_ms}"""
    )
    con.execute(
        f"""CREATE TABLE meter_events AS
        SELECT event_id, customer_id, meter_name, quantity, unit, event_time,
               (event_time AT TIME ZONE 'UTC')::DATE AS event_date, dimensions,
               NULL::DECIMAL(38, 12) AS billed_cost, 'amberflo_{fmt}' AS source_format,
               source_uri, rid AS source_row, now() AS ingested_at
        FROM valid
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_uri, rid) = 1"""
    )


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


def _focus(con: Any, src: Path) -> None:
    con.execute(
        f"""CREATE TEMP TABLE raw AS SELECT filename AS source_uri, *
            FROM read_csv('{src}/*.csv', header = true, all_varchar = true, filename = true)"""
    )
    money = ", ".join(f'TRY_CAST("{c}" AS DECIMAL(38, 12)) AS "{c}"' for c in _FOCUS_MONEY)
    times = ", ".join(f'TRY_CAST("{c}" AS TIMESTAMPTZ) AS "{c}"' for c in _FOCUS_TIMES)
    key = ", ".join(f"coalesce(\"{c}\", '\\0')" for c in _FOCUS_KEY_COLUMNS)
    con.execute(
        f"""CREATE TABLE focus_line_items AS
        SELECT * REPLACE ({money}, {times},
                          TRY_CAST(json("Tags") AS MAP(VARCHAR, VARCHAR)) AS "Tags"),
               rowid AS source_row,
               'focus:' || sha256(concat_ws('\\x1f', {key}) || '\\x1d' ||
                 (row_number() OVER (PARTITION BY source_uri, concat_ws('\\x1f', {key})) - 1)::VARCHAR) AS event_id
        FROM raw"""
    )
    context = ", ".join(
        f"struct_pack(key := '{k}', value := \"{c}\"::VARCHAR)" for k, c in _FOCUS_CONTEXT
    )
    con.execute(
        f"""CREATE TABLE meter_events AS
        SELECT event_id, coalesce("SubAccountId", "BillingAccountId") AS customer_id,
               coalesce("SkuId", "ServiceName") AS meter_name,
               coalesce("ConsumedQuantity", "PricingQuantity", 0) AS quantity,
               CASE WHEN "ConsumedQuantity" IS NOT NULL THEN "ConsumedUnit" ELSE "PricingUnit" END AS unit,
               "ChargePeriodStart" AS event_time,
               ("ChargePeriodStart" AT TIME ZONE 'UTC')::DATE AS event_date,
               map_concat(coalesce("Tags", MAP {{}}), map_from_entries(list_filter([{context}],
                          e -> e.value IS NOT NULL))) AS dimensions,
               "BilledCost" AS billed_cost, 'focus_csv' AS source_format, source_uri, source_row,
               now() AS ingested_at
        FROM focus_line_items
        WHERE "BilledCost" IS NOT NULL AND "ChargePeriodStart" IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_uri, source_row) = 1"""
    )


def run_baseline(src: Path, fmt: str, work: Path) -> dict[str, Any]:
    """Run the whole job into `work` (a DuckDB file and a lake); returns counts and phase times."""
    import duckdb

    phases: dict[str, float] = {}
    con = duckdb.connect(str(work / "baseline.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = t = time.perf_counter()
    if fmt == "focus":
        _focus(con, src)
        rows_in = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        valid = con.execute(
            'SELECT count(*) FROM focus_line_items WHERE "BilledCost" IS NOT NULL'
        ).fetchone()[0]
    else:
        _amberflo_raw(con, src, fmt)
        phases["read"] = time.perf_counter() - t
        _amberflo_events(con, fmt)
        rows_in = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        valid = con.execute("SELECT count(*) FROM valid").fetchone()[0]
    phases["normalize_dedup_load"] = time.perf_counter() - t - phases.get("read", 0.0)
    t = time.perf_counter()
    (work / "lake").mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""COPY (SELECT * FROM meter_events ORDER BY event_date, event_time, event_id)
            TO '{work / "lake" / "meter_events"}'
            (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd, OVERWRITE_OR_IGNORE)"""
    )
    phases["publish_lake"] = time.perf_counter() - t
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
