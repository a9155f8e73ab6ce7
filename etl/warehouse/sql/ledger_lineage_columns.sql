-- The lineage columns (who loaded each file) for a warehouse written before the ledger had them:
-- rows loaded before stay NULL there ("not recorded").
ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS run_id VARCHAR;
ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS dag_id VARCHAR;
ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS try_number INTEGER;
ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS os_user VARCHAR;
ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS run_started_at TIMESTAMPTZ;
