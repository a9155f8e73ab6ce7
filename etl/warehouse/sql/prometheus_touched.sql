-- Per series with new samples, the span whose consecutive pairs they change: from the stored
-- sample before the first new one to the stored sample after the last new one (each looked
-- for up to $lookback ms away).
CREATE OR REPLACE TEMP TABLE prom_span AS
WITH span AS (
    SELECT series_key, min(ts_ms) AS lo, max(ts_ms) AS hi FROM prom_new GROUP BY series_key)
SELECT n.series_key,
       coalesce((SELECT max(s.ts_ms) FROM prometheus_samples s
                  WHERE s.series_key = n.series_key AND s.ts_ms < n.lo
                    AND s.ts_ms >= n.lo - $lookback), n.lo) AS span_lo,
       coalesce((SELECT min(s.ts_ms) FROM prometheus_samples s
                  WHERE s.series_key = n.series_key AND s.ts_ms > n.hi
                    AND s.ts_ms <= n.hi + $lookback), n.hi) AS span_hi
FROM span n;
