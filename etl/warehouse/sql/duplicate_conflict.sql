-- A duplicate's content differs from the stored copy's: true, false, or null until ranked
-- (etl.warehouse.dedup.resolve_duplicates). Older warehouses gain the column; their
-- duplicates are ranked by the next load.
ALTER TABLE duplicate_events ADD COLUMN IF NOT EXISTS conflict BOOLEAN
