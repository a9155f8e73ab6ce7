CREATE OR REPLACE TEMP TABLE rollup_days AS SELECT unnest(?::DATE[]) AS day;
CREATE OR REPLACE TEMP TABLE rollup_months AS
  SELECT DISTINCT date_trunc('month', day)::DATE AS month FROM rollup_days;
