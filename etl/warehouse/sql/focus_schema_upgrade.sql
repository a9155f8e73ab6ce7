-- Warehouses written when FOCUS money had 12 decimal places: widen to 18 (lossless for every
-- stored value below 10^20). The statements are idempotent.
ALTER TABLE meter_events ALTER COLUMN quantity TYPE DECIMAL(38, 18);
ALTER TABLE meter_events ALTER COLUMN billed_cost TYPE DECIMAL(38, 18);
ALTER TABLE meter_events ALTER COLUMN effective_cost TYPE DECIMAL(38, 18);
ALTER TABLE meter_events ALTER COLUMN list_cost TYPE DECIMAL(38, 18);
ALTER TABLE meter_events ALTER COLUMN contracted_cost TYPE DECIMAL(38, 18);
ALTER TABLE duplicate_events ALTER COLUMN quantity TYPE DECIMAL(38, 18);
ALTER TABLE duplicate_events ALTER COLUMN billed_cost TYPE DECIMAL(38, 18);
ALTER TABLE duplicate_events ALTER COLUMN effective_cost TYPE DECIMAL(38, 18);
ALTER TABLE duplicate_events ALTER COLUMN list_cost TYPE DECIMAL(38, 18);
ALTER TABLE duplicate_events ALTER COLUMN contracted_cost TYPE DECIMAL(38, 18);
