-- A source retracted on purpose (params: time, uri): its rows are gone, its counters zero; the
-- row stays, so discovery does not load the unchanged object again.
UPDATE ingest_ledger SET status = 'retracted', rows_in = 0, events_loaded = 0, duplicates = 0,
    rejected = 0, superseded = 0, error = NULL, loaded_at = ?::TIMESTAMPTZ
WHERE source_uri = ?
