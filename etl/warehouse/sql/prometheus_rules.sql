-- The series of a load's group by their number in it (sid), with what the mapping made of
-- them and their latest stored sample before this load (null: none stored yet).
CREATE OR REPLACE TEMP TABLE prom_rules AS
SELECT i.sid, i.series_key, i.kind, i.interval_ms, i.max_gap_ms, i.divide_by, i.per_ms,
       l.ts_ms AS last_ts, l.value_e12 AS last_v
FROM incoming_series i LEFT JOIN prometheus_last l USING (series_key);
