-- The line items a newer delivery replaces: same export (delivery key), same billing account and
-- period (the registered `incoming_periods`), from another file written more than the delivery
-- window before this one (params: delivery_key, source_uri, last_modified, window seconds).
CREATE OR REPLACE TEMP TABLE superseded AS
SELECT f.source_uri, f.source_row
FROM focus_line_items f
JOIN incoming_periods p
  ON f."BillingAccountId" IS NOT DISTINCT FROM p."BillingAccountId"
 AND f."BillingPeriodStart" = p."BillingPeriodStart"
JOIN ingest_ledger l ON l.source_uri = f.source_uri
WHERE f.delivery_key = ? AND f.source_uri <> ?
  AND l.last_modified < ?::TIMESTAMPTZ - to_seconds(?)
