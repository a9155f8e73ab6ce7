-- Count a file's superseded rows in its ledger row (params: uri, uri).
UPDATE ingest_ledger SET superseded = superseded + (SELECT count(*) FROM superseded WHERE source_uri = ?)
WHERE source_uri = ?
