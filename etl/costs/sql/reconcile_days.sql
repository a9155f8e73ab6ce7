CREATE OR REPLACE TEMP TABLE reconcile_days AS SELECT unnest(?::DATE[]) AS day
