-- Move `n` (param 1 and 2) of a file's (param 3) copies from its duplicates to its loaded events.
UPDATE ingest_ledger SET events_loaded = events_loaded + ?, duplicates = duplicates - ?
WHERE source_uri = ?
