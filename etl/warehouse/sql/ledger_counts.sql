-- A source's ledger counters (param: uri).
SELECT status, events_loaded, duplicates, rejected FROM ingest_ledger WHERE source_uri = ?
