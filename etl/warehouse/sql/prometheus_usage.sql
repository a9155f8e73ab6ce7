-- How the new samples change usage per series x interval. Usage is a sum over consecutive
-- sample pairs, so only the pairs the new samples make or break change. Exact integers:
-- values in units of 1e-12 (value_e12), times milliseconds for gauges.
-- Pairs: those of the late samples' spans (prom_late_pairs), and for the other series the
-- pairs from their latest stored sample (prometheus_last, still as before this load; if
-- within $lookback of the first new sample) through the new ones.
--   counter: the increase from the previous sample belongs to the later sample's interval,
--            a drop being a restart from zero (the increase is the new value); no extrapolation
--   gauge:   the previous sample's value holds until this sample, split at interval
--            boundaries (only a pair that crosses one is split); a gap longer than max_gap_ms
--            counts nothing
CREATE OR REPLACE TEMP TABLE prom_delta AS
WITH appended AS (
    SELECT n.series_key, min(n.ts_ms) AS lo, any_value(l.ts_ms) AS last_ts,
           any_value(l.value_e12) AS last_v
    FROM prom_new n LEFT JOIN prometheus_last l USING (series_key)
    GROUP BY n.series_key HAVING NOT bool_or(n.late)),
win AS (
    SELECT n.series_key, n.ts_ms, n.value_e12 FROM prom_new n SEMI JOIN appended USING (series_key)
    UNION ALL
    SELECT series_key, last_ts, last_v FROM appended WHERE last_ts >= lo - $lookback),
pairs AS (
    SELECT series_key, ts_ms, value_e12 AS v, 1 AS sign,
           lag(ts_ms) OVER w AS prev_ts, lag(value_e12) OVER w AS prev_v
    FROM win WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms)
    UNION ALL
    SELECT * FROM prom_late_pairs),
p AS MATERIALIZED (
    SELECT p.*, r.kind = 'counter' AS is_counter, r.interval_ms, r.max_gap_ms,
           r.divide_by::HUGEINT * CASE WHEN r.kind = 'counter' THEN 1 ELSE r.per_ms END AS divisor
    FROM pairs p JOIN prometheus_series r USING (series_key)
    WHERE p.prev_ts IS NOT NULL AND (r.kind = 'counter' OR p.ts_ms - p.prev_ts <= r.max_gap_ms)),
pieces AS (
    SELECT series_key,
           CASE WHEN is_counter THEN ts_ms ELSE prev_ts END // interval_ms * interval_ms
             AS interval_start,
           sign * CASE WHEN NOT is_counter THEN prev_v * (ts_ms - prev_ts)
                       WHEN v >= prev_v THEN v - prev_v ELSE v END AS units,
           divisor
    FROM p WHERE is_counter OR prev_ts // interval_ms = (ts_ms - 1) // interval_ms
    UNION ALL
    SELECT series_key, k * interval_ms,
           sign * prev_v
             * (least(ts_ms, (k + 1) * interval_ms) - greatest(prev_ts, k * interval_ms)),
           divisor
    FROM p, UNNEST(range(prev_ts // interval_ms, (ts_ms - 1) // interval_ms + 1)) AS u(k)
    WHERE NOT is_counter AND prev_ts // interval_ms <> (ts_ms - 1) // interval_ms)
SELECT series_key, interval_start, sum(units) AS units, any_value(divisor) AS divisor
FROM pieces GROUP BY series_key, interval_start;
INSERT INTO prometheus_usage
SELECT series_key, interval_start, units, divisor FROM prom_delta
ON CONFLICT (series_key, interval_start) DO UPDATE SET units = units + excluded.units;
-- The latest stored sample of each series with new samples.
INSERT INTO prometheus_last
SELECT series_key, max(ts_ms), arg_max(value_e12, ts_ms) FROM prom_new GROUP BY series_key
ON CONFLICT (series_key) DO UPDATE SET ts_ms = excluded.ts_ms, value_e12 = excluded.value_e12
WHERE excluded.ts_ms > prometheus_last.ts_ms;
