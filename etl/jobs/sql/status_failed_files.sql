-- Files whose last load attempt failed, with the reason. $1: how many.
SELECT source_uri, status, error, loaded_at
FROM ingest_ledger WHERE status IN ('failed', 'error') ORDER BY source_uri LIMIT $1
