-- The published ledger's columns (does it record the run that loaded each file yet?).
SELECT * FROM ingest_ledger LIMIT 0
