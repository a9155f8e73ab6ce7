-- runs.sql for a ledger written before it recorded runs (no lineage columns yet): one row.
SELECT CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS VARCHAR) AS dag_id,
       CAST(NULL AS INTEGER) AS try_number, CAST(NULL AS VARCHAR) AS os_user,
       CAST(NULL AS TIMESTAMPTZ) AS started_at, max(loaded_at) AS finished_at,
       count(*) AS files,
       count(*) FILTER (WHERE status IN ('failed', 'error')) AS failed,
       sum(rows_in) AS rows_in, sum(events_loaded) AS events_loaded,
       sum(rejected) AS rejected, sum(duplicates) AS duplicates,
       CAST(NULL AS DOUBLE) AS duration_s
FROM ingest_ledger
HAVING count(*) > 0 AND $1 > 0
