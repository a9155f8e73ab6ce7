-- Insert or update the ledger rows in the registered `incoming_ledger` (LEDGER_UPSERT_SCHEMA).
INSERT INTO ingest_ledger (
    source_uri, source_key, etag, size_bytes, checksum_sha256, last_modified, source_format,
    status, rows_in, events_loaded, duplicates, rejected, error, first_seen_at, loaded_at, attempts,
    run_id, dag_id, try_number, os_user, run_started_at)
SELECT source_uri, source_key, etag, size_bytes, checksum_sha256, last_modified, source_format,
    status, rows_in, events_loaded, duplicates, rejected, error, first_seen_at, loaded_at, 1,
    run_id, dag_id, try_number, os_user, run_started_at
FROM incoming_ledger
ON CONFLICT (source_uri) DO UPDATE SET
    source_key = excluded.source_key, etag = excluded.etag, size_bytes = excluded.size_bytes,
    checksum_sha256 = excluded.checksum_sha256, last_modified = excluded.last_modified,
    source_format = excluded.source_format, status = excluded.status, rows_in = excluded.rows_in,
    events_loaded = excluded.events_loaded, duplicates = excluded.duplicates,
    rejected = excluded.rejected, error = excluded.error,
    attempts = ingest_ledger.attempts + 1, loaded_at = excluded.loaded_at,
    run_id = excluded.run_id, dag_id = excluded.dag_id, try_number = excluded.try_number,
    os_user = excluded.os_user, run_started_at = excluded.run_started_at
