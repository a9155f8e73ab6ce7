-- The ledger per file status: files, rows and the last load.
SELECT status, count(*) AS files, sum(rows_in) AS rows_in, sum(events_loaded) AS events_loaded,
       sum(duplicates) AS duplicates, sum(rejected) AS rejected, max(loaded_at) AS last_loaded_at
FROM ingest_ledger GROUP BY status ORDER BY status
