-- Series with a new sample before their latest stored one (a late or out-of-order object):
-- the span whose consecutive pairs the new samples change, from the stored sample before the
-- first new one to the stored sample after the last new one (each looked for up to $lookback
-- ms away). Other series only append pairs after their latest stored sample.
CREATE OR REPLACE TEMP TABLE prom_span AS
WITH span AS (
    SELECT n.series_key, min(n.ts_ms) AS lo, max(n.ts_ms) AS hi
    FROM prom_new n JOIN prometheus_last l USING (series_key)
    GROUP BY n.series_key HAVING min(n.ts_ms) < any_value(l.ts_ms))
SELECT n.series_key,
       coalesce((SELECT max(s.ts_ms) FROM prometheus_samples s
                  WHERE s.series_key = n.series_key AND s.ts_ms < n.lo
                    AND s.ts_ms >= n.lo - $lookback), n.lo) AS span_lo,
       coalesce((SELECT min(s.ts_ms) FROM prometheus_samples s
                  WHERE s.series_key = n.series_key AND s.ts_ms > n.hi
                    AND s.ts_ms <= n.hi + $lookback), n.hi) AS span_hi
FROM span n;
