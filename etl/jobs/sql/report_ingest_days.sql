-- Ingest health per day (UTC) of each file's latest load attempt: files loaded, failed, empty
-- and their rows. $1..$2: the days.
SELECT CAST(loaded_at AS DATE) AS day,
       count(*) FILTER (WHERE status = 'loaded') AS loaded,
       count(*) FILTER (WHERE status IN ('failed', 'error')) AS failed,
       count(*) FILTER (WHERE status = 'empty') AS empty,
       sum(rows_in) AS rows_in,
       sum(events_loaded) AS events_loaded,
       sum(duplicates) AS duplicates,
       sum(rejected) AS rejected
FROM ingest_ledger
WHERE CAST(loaded_at AS DATE) BETWEEN $1 AND $2
GROUP BY CAST(loaded_at AS DATE)
ORDER BY day DESC
