-- meterhouse's Amberflo ingest written as one plain DuckDB SQL script: the baseline.
--
-- Same output types and rules as meterhouse: quantity DECIMAL(38, 18) holding at most 20 integer
-- digits and 12 decimals (a value with more
-- decimals, a negative or non-numeric value, a missing customer or meter, a time outside
-- [2000-01-01, now + 1 day] is dropped), MAP(VARCHAR, VARCHAR) dimensions, the unit from a
-- `unit` dimension or the meter's suffix, an event id from uniqueId or a hash of the content,
-- one copy per event id by meterhouse's duplicate rule, the meter_events table with every
-- canonical column, and the date-partitioned Parquet lake.
--
-- Placeholders in braces are filled by bench/baseline.py with paths and integer constants only.

SET TimeZone = 'UTC';
SET enable_progress_bar = false;
SET memory_limit = '{memory_limit}';
SET temp_directory = '{temp_directory}';

-- 1. The files as text, in name order then row order: rowid is a row's place in the export.
CREATE TEMP TABLE raw AS
{reader};

-- Past here no statement needs rows written in the order they are read (source_row is the raw
-- rowid, duplicates are ranked by an ORDER BY): DuckDB's threads write as they go.
SET preserve_insertion_order = false;

-- 2. Type and check every row in one pass; a row's source_row is its place within its file.
CREATE TABLE meter_events AS
WITH typed AS (
    SELECT r.rowid - f.first_rid + 1 AS source_row, r.source_uri, {dimensions} AS dimensions,
           nullif(trim(customerId), '') AS customer,
           nullif(trim(meterApiName), '') AS meter,
           -- DuckDB parses text into DECIMAL(18, s) far faster than into DECIMAL(38, s):
           -- values that fit the narrow type exactly take it.
           CASE WHEN regexp_full_match(trim(meterValue), '[+-]?[0-9]{{1,12}}([.][0-9]{{1,6}})?')
                THEN TRY_CAST(trim(meterValue) AS DECIMAL(18, 6))::DECIMAL(38, 18)
                ELSE TRY_CAST(trim(meterValue) AS DECIMAL(32, 12))::DECIMAL(38, 18) END AS quantity,
           CASE WHEN NOT coalesce(regexp_full_match(trim(meterValue), '[+-]?[0-9]{{1,12}}([.][0-9]{{1,6}})?'), false)
                THEN TRY_CAST(trim(meterValue) AS DECIMAL(38, 24)) END AS quantity_fine,
           TRY_CAST(trim(meterTimeInMillis) AS BIGINT) AS ms,
           nullif(trim(uniqueId), '') AS unique_id
    FROM raw AS r
    JOIN (SELECT source_uri, min(rowid) AS first_rid FROM raw GROUP BY source_uri) AS f USING (source_uri)
),
valid AS (
    SELECT *, coalesce(unique_id, 'sha256:' || left(sha256(concat_ws('|', customer, meter,
                       quantity::VARCHAR, ms::VARCHAR, dimensions::VARCHAR)), 40)) AS event_id
    FROM typed
    WHERE customer IS NOT NULL AND meter IS NOT NULL AND quantity IS NOT NULL
      AND quantity >= 0 AND (quantity_fine IS NULL OR quantity_fine = quantity::DECIMAL(38, 24))
      AND ms IS NOT NULL AND ms >= {min_event_ms} AND ms <= {max_event_ms}
)
SELECT event_id, customer AS customer_id, meter AS meter_name, quantity,
       coalesce(dimensions['unit'], {unit_case}) AS unit,
       make_timestamptz(ms * 1000) AS event_time,
       make_timestamptz(ms * 1000)::DATE AS event_date,
       dimensions,
       NULL::DECIMAL(38, 18) AS billed_cost, NULL::DECIMAL(38, 18) AS effective_cost,
       NULL::DECIMAL(38, 18) AS list_cost, NULL::DECIMAL(38, 18) AS contracted_cost,
       NULL::VARCHAR AS currency, 'amberflo_{fmt}' AS source_format,
       source_uri, source_row, now() AS ingested_at, md5_number(event_id) AS event_key
FROM valid;

-- 3. One copy per event id, by meterhouse's duplicate rule (the earliest event_time, then the
--    smallest source_uri, then the smallest source_row): the other copies are found on narrow
--    columns and deleted.
DELETE FROM meter_events WHERE rowid IN (
    SELECT rowid FROM meter_events
    QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY event_time, source_uri, source_row) > 1);

-- 4. The date-partitioned Parquet lake.
COPY (SELECT * EXCLUDE (event_key) FROM meter_events)
    TO '{lake}' (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd, OVERWRITE_OR_IGNORE,
                 ROW_GROUP_SIZE 20000);
