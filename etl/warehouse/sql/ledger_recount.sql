-- A file's counters after rows moved between meter_events and duplicate_events (params: uri x3).
UPDATE ingest_ledger SET
    events_loaded = (SELECT count(*) FROM meter_events WHERE source_uri = ?),
    duplicates = (SELECT count(*) FROM duplicate_events WHERE source_uri = ?)
WHERE source_uri = ?
