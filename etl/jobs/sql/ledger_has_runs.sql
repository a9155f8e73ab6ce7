-- Whether the ledger records the run that loaded each file (1) or predates it (0).
SELECT count(*) FROM information_schema.columns
WHERE table_name = 'ingest_ledger' AND column_name = 'run_id'
