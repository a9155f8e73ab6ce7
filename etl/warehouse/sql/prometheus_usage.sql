-- How the new samples change usage per series x interval. Usage is a sum over consecutive
-- sample pairs, so only the pairs inside each series' span change: the pairs of the span as
-- stored before this load are taken away, those of the span now are added. Exact integers:
-- values in units of 1e-12 (prometheus_samples.value_e12), times milliseconds for gauges.
--   counter: the increase from the previous sample belongs to the later sample's interval,
--            a drop being a restart from zero (the increase is the new value); no extrapolation
--   gauge:   the previous sample's value holds until this sample, split at interval
--            boundaries; a gap longer than max_gap_ms counts nothing
CREATE OR REPLACE TEMP TABLE prom_delta AS
WITH win AS (
    SELECT s.series_key, s.ts_ms, s.value_e12, n.ts_ms IS NULL AS was_stored
    FROM prometheus_samples s JOIN prom_span t USING (series_key)
    LEFT JOIN prom_new n ON n.series_key = s.series_key AND n.ts_ms = s.ts_ms
    WHERE s.ts_ms BETWEEN t.span_lo AND t.span_hi),
pairs AS (
    SELECT series_key, ts_ms, value_e12 AS v, 1 AS sign,
           lag(ts_ms) OVER w AS prev_ts, lag(value_e12) OVER w AS prev_v
    FROM win WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms)
    UNION ALL
    SELECT series_key, ts_ms, value_e12, -1,
           lag(ts_ms) OVER b, lag(value_e12) OVER b
    FROM win WHERE was_stored WINDOW b AS (PARTITION BY series_key ORDER BY ts_ms)),
pieces AS (
    SELECT p.series_key, (p.ts_ms // r.interval_ms) * r.interval_ms AS interval_start,
           p.sign * CASE WHEN p.v >= p.prev_v THEN p.v - p.prev_v ELSE p.v END AS units,
           r.divide_by::HUGEINT AS divisor
    FROM pairs p JOIN prometheus_series r USING (series_key)
    WHERE r.kind = 'counter' AND p.prev_ts IS NOT NULL
    UNION ALL
    SELECT p.series_key, k * r.interval_ms,
           p.sign * p.prev_v
             * (least(p.ts_ms, (k + 1) * r.interval_ms) - greatest(p.prev_ts, k * r.interval_ms)),
           r.divide_by::HUGEINT * r.per_ms
    FROM pairs p JOIN prometheus_series r USING (series_key),
         UNNEST(range(p.prev_ts // r.interval_ms, (p.ts_ms - 1) // r.interval_ms + 1)) AS u(k)
    WHERE r.kind = 'gauge' AND p.prev_ts IS NOT NULL
      AND p.ts_ms - p.prev_ts <= r.max_gap_ms)
SELECT series_key, interval_start, sum(units) AS units, any_value(divisor) AS divisor
FROM pieces GROUP BY series_key, interval_start;
INSERT INTO prometheus_usage
SELECT series_key, interval_start, units, divisor FROM prom_delta
ON CONFLICT (series_key, interval_start) DO UPDATE SET units = units + excluded.units;
