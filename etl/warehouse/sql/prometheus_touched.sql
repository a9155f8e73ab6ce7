-- Per series with new samples, the intervals [from_ms, to_ms) whose usage they change: from
-- the interval of the stored sample before the first new one (a gauge's hold) to the
-- interval of the stored sample after the last new one (its delta), and the sample before
-- from_ms (the baseline), looked for up to $lookback ms back.
CREATE OR REPLACE TEMP TABLE prom_touched AS
WITH span AS (
    SELECT series_key, min(ts_ms) AS lo, max(ts_ms) AS hi FROM prom_new GROUP BY series_key),
bounds AS (
    SELECT n.series_key, n.lo, n.hi, r.interval_ms,
           (SELECT max(s.ts_ms) FROM prometheus_samples s
             WHERE s.series_key = n.series_key AND s.ts_ms < n.lo
               AND s.ts_ms >= n.lo - $lookback) AS prev_ts,
           (SELECT min(s.ts_ms) FROM prometheus_samples s
             WHERE s.series_key = n.series_key AND s.ts_ms > n.hi
               AND s.ts_ms <= n.hi + $lookback) AS next_ts
    FROM span n JOIN prometheus_series r USING (series_key)),
ranges AS (
    SELECT series_key, interval_ms,
           (coalesce(prev_ts, lo) // interval_ms) * interval_ms AS from_ms,
           (coalesce(next_ts, hi) // interval_ms) * interval_ms + interval_ms AS to_ms
    FROM bounds)
SELECT g.*,
       coalesce((SELECT max(s.ts_ms) FROM prometheus_samples s
                  WHERE s.series_key = g.series_key AND s.ts_ms < g.from_ms
                    AND s.ts_ms >= g.from_ms - $lookback), g.from_ms) AS base_ms
FROM ranges g;
