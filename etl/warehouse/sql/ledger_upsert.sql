-- Insert or update the ledger rows in the registered `incoming_ledger` (LEDGER_UPSERT_SCHEMA).
-- MERGE rather than INSERT ... ON CONFLICT: a DuckLake has no primary key to conflict on, and
-- the same statement runs on both backends.
MERGE INTO ingest_ledger USING incoming_ledger AS excluded
ON ingest_ledger.source_uri = excluded.source_uri
WHEN MATCHED THEN UPDATE SET
    source_key = excluded.source_key, etag = excluded.etag, size_bytes = excluded.size_bytes,
    checksum_sha256 = excluded.checksum_sha256, last_modified = excluded.last_modified,
    source_format = excluded.source_format, status = excluded.status, rows_in = excluded.rows_in,
    events_loaded = excluded.events_loaded, duplicates = excluded.duplicates,
    rejected = excluded.rejected, error = excluded.error,
    attempts = ingest_ledger.attempts + 1, loaded_at = excluded.loaded_at,
    run_id = excluded.run_id, dag_id = excluded.dag_id, try_number = excluded.try_number,
    os_user = excluded.os_user, run_started_at = excluded.run_started_at
WHEN NOT MATCHED THEN INSERT (
    source_uri, source_key, etag, size_bytes, checksum_sha256, last_modified, source_format,
    status, rows_in, events_loaded, duplicates, rejected, error, first_seen_at, loaded_at, attempts,
    run_id, dag_id, try_number, os_user, run_started_at)
VALUES (excluded.source_uri, excluded.source_key, excluded.etag, excluded.size_bytes,
    excluded.checksum_sha256, excluded.last_modified, excluded.source_format, excluded.status,
    excluded.rows_in, excluded.events_loaded, excluded.duplicates, excluded.rejected,
    excluded.error, excluded.first_seen_at, excluded.loaded_at, 1, excluded.run_id,
    excluded.dag_id, excluded.try_number, excluded.os_user, excluded.run_started_at)
