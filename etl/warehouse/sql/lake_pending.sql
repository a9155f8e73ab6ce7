-- Event dates whose lake partition must be published: filled in the same transaction as the
-- load that touched them, emptied only after the files are in place, so a crash between the
-- two is repaired by the next publish. A day whose rows were only added since `appended_since`
-- gets one more part file; a day that lost or changed rows (`rewrite`) has its files written
-- anew.
CREATE TABLE IF NOT EXISTS lake_pending (event_date DATE PRIMARY KEY);
ALTER TABLE lake_pending ADD COLUMN IF NOT EXISTS rewrite BOOLEAN DEFAULT true;
ALTER TABLE lake_pending ADD COLUMN IF NOT EXISTS appended_since TIMESTAMPTZ;
