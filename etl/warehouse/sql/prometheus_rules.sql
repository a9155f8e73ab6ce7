-- The series of a load's group by their number in it (sid) and their stored number
-- (series_id), with what the mapping made of them and their latest stored sample before this
-- load (null: none stored yet). gap_ms: the longest silence a pair of samples spans and still
-- counts (a gauge's max_gap; a counter's $counter_gap).
CREATE OR REPLACE TEMP TABLE prom_rules AS
SELECT i.sid, i.series_key, p.series_id, i.kind, i.interval_ms, i.max_gap_ms, i.divide_by,
       i.per_ms,
       CASE WHEN i.kind = 'counter' THEN $counter_gap ELSE i.max_gap_ms END AS gap_ms,
       l.ts_ms AS last_ts, l.value_e12 AS last_v
FROM incoming_series i JOIN prometheus_series p USING (series_key)
LEFT JOIN prometheus_last l USING (series_key);
