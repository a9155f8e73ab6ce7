SELECT count(*) FROM ingest_ledger WHERE source_uri = ?
