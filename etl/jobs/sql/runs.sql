-- One row per run (and task try) that loaded files, as the ingest ledger records them, newest
-- first. A file loaded again later counts under the later run. Files loaded before the ledger
-- recorded runs form one row with a NULL run_id. $1: how many rows.
SELECT run_id, dag_id, try_number, os_user,
       min(run_started_at) AS started_at,
       max(loaded_at) AS finished_at,
       count(*) AS files,
       count(*) FILTER (WHERE status IN ('failed', 'error')) AS failed,
       sum(rows_in) AS rows_in,
       sum(events_loaded) AS events_loaded,
       sum(rejected) AS rejected,
       sum(duplicates) AS duplicates,
       round(date_diff('millisecond', min(run_started_at), max(loaded_at)) / 1000.0, 3) AS duration_s
FROM ingest_ledger
GROUP BY run_id, dag_id, try_number, os_user, run_started_at
ORDER BY finished_at DESC, run_id
LIMIT $1
