-- How the new samples change usage per series x interval. Usage is a sum over consecutive
-- sample pairs, so only the pairs the new samples make or break change. Exact integers:
-- values in units of 1e-12 (value_e12), times milliseconds for gauges.
-- 1. Series whose new samples all come after their latest stored sample (prometheus_last,
--    still as before this load): the pairs from that sample (if within $lookback of the
--    first new one) through the new ones, all added.
CREATE OR REPLACE TEMP TABLE prom_pairs AS
WITH appended AS (
    SELECT n.series_key, min(n.ts_ms) AS lo, any_value(l.ts_ms) AS last_ts,
           any_value(l.value_e12) AS last_v
    FROM prom_new n LEFT JOIN prometheus_last l USING (series_key)
    GROUP BY n.series_key HAVING any_value(l.ts_ms) IS NULL OR min(n.ts_ms) > any_value(l.ts_ms)),
win AS (
    SELECT n.series_key, n.ts_ms, n.value_e12 FROM prom_new n SEMI JOIN appended USING (series_key)
    UNION ALL
    SELECT series_key, last_ts, last_v FROM appended WHERE last_ts >= lo - $lookback)
SELECT series_key, ts_ms, value_e12 AS v, 1 AS sign,
       lag(ts_ms) OVER w AS prev_ts, lag(value_e12) OVER w AS prev_v
FROM win WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms);
-- 2. Series of prom_span (a new sample before the latest stored one): the pairs of the span
--    as stored before this load are taken away, those of the span now are added.
INSERT INTO prom_pairs
WITH win AS (
    SELECT s.series_key, s.ts_ms, s.value_e12, n.ts_ms IS NULL AS was_stored
    FROM prometheus_samples s JOIN prom_span t USING (series_key)
    LEFT JOIN prom_new n ON n.series_key = s.series_key AND n.ts_ms = s.ts_ms
    WHERE s.ts_ms BETWEEN t.span_lo AND t.span_hi)
SELECT series_key, ts_ms, value_e12, 1, lag(ts_ms) OVER w, lag(value_e12) OVER w
FROM win WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms)
UNION ALL
SELECT series_key, ts_ms, value_e12, -1, lag(ts_ms) OVER b, lag(value_e12) OVER b
FROM win WHERE was_stored WINDOW b AS (PARTITION BY series_key ORDER BY ts_ms);
-- 3. The pairs' usage per series x interval:
--   counter: the increase from the previous sample belongs to the later sample's interval,
--            a drop being a restart from zero (the increase is the new value); no extrapolation
--   gauge:   the previous sample's value holds until this sample, split at interval
--            boundaries (only a pair that crosses one is split); a gap longer than max_gap_ms
--            counts nothing
CREATE OR REPLACE TEMP TABLE prom_delta AS
WITH p AS (
    SELECT p.*, r.kind, r.interval_ms, r.max_gap_ms, r.divide_by, r.per_ms
    FROM prom_pairs p JOIN prometheus_series r USING (series_key)
    WHERE p.prev_ts IS NOT NULL),
pieces AS (
    SELECT series_key, (ts_ms // interval_ms) * interval_ms AS interval_start,
           sign * CASE WHEN v >= prev_v THEN v - prev_v ELSE v END AS units,
           divide_by::HUGEINT AS divisor
    FROM p WHERE kind = 'counter'
    UNION ALL
    SELECT series_key, (prev_ts // interval_ms) * interval_ms,
           sign * prev_v * (ts_ms - prev_ts), divide_by::HUGEINT * per_ms
    FROM p
    WHERE kind = 'gauge' AND ts_ms - prev_ts <= max_gap_ms
      AND prev_ts // interval_ms = (ts_ms - 1) // interval_ms
    UNION ALL
    SELECT series_key, k * interval_ms,
           sign * prev_v
             * (least(ts_ms, (k + 1) * interval_ms) - greatest(prev_ts, k * interval_ms)),
           divide_by::HUGEINT * per_ms
    FROM p, UNNEST(range(prev_ts // interval_ms, (ts_ms - 1) // interval_ms + 1)) AS u(k)
    WHERE kind = 'gauge' AND ts_ms - prev_ts <= max_gap_ms
      AND prev_ts // interval_ms <> (ts_ms - 1) // interval_ms)
SELECT series_key, interval_start, sum(units) AS units, any_value(divisor) AS divisor
FROM pieces GROUP BY series_key, interval_start;
INSERT INTO prometheus_usage
SELECT series_key, interval_start, units, divisor FROM prom_delta
ON CONFLICT (series_key, interval_start) DO UPDATE SET units = units + excluded.units;
-- 4. The latest stored sample of each series with new samples.
INSERT INTO prometheus_last
SELECT series_key, max(ts_ms), arg_max(value_e12, ts_ms) FROM prom_new GROUP BY series_key
ON CONFLICT (series_key) DO UPDATE SET ts_ms = excluded.ts_ms, value_e12 = excluded.value_e12
WHERE excluded.ts_ms > prometheus_last.ts_ms;
