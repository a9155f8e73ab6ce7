-- Files whose latest load attempt failed, per day (UTC), with the reason and the run
-- ({{run_id}}, {{run_dag_id}} as in report_rejects.sql). $1..$2: the days; $3: how many.
SELECT CAST(l.loaded_at AS DATE) AS day, l.source_uri, l.status, l.error,
       {{run_dag_id}} AS run_dag_id, {{run_id}} AS run_id
FROM ingest_ledger l
WHERE l.status IN ('failed', 'error') AND CAST(l.loaded_at AS DATE) BETWEEN $1 AND $2
ORDER BY day DESC, l.source_uri
LIMIT $3
