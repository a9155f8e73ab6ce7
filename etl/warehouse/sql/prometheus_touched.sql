-- Series with a late sample (one before their latest stored sample): the span whose
-- consecutive pairs the new samples change, from the stored sample before the first new one
-- to the stored sample after the last new one (each looked for up to $lookback ms away: the
-- longest gap_ms of the load's series, so a pair that counts is never missed).
-- Other series only append pairs after their latest stored sample.
CREATE OR REPLACE TEMP TABLE prom_span AS
WITH span AS (
    SELECT series_id, min(ts_ms) AS lo, max(ts_ms) AS hi
    FROM prom_new GROUP BY series_id HAVING bool_or(late))
SELECT n.series_id,
       coalesce((SELECT max(s.ts_ms) FROM prometheus_points s
                  WHERE s.series_id = n.series_id AND s.ts_ms < n.lo
                    AND s.ts_ms >= n.lo - $lookback), n.lo) AS span_lo,
       coalesce((SELECT min(s.ts_ms) FROM prometheus_points s
                  WHERE s.series_id = n.series_id AND s.ts_ms > n.hi
                    AND s.ts_ms <= n.hi + $lookback), n.hi) AS span_hi
FROM span n;
-- Their pairs: those of the span as stored before this load are taken away, those of the
-- span now are added.
CREATE OR REPLACE TEMP TABLE prom_late_pairs AS
WITH win AS (
    SELECT s.series_id, s.ts_ms, s.value_e12, n.ts_ms IS NULL AS was_stored
    FROM prometheus_points s JOIN prom_span t USING (series_id)
    LEFT JOIN prom_new n ON n.series_id = s.series_id AND n.ts_ms = s.ts_ms
    WHERE s.ts_ms BETWEEN t.span_lo AND t.span_hi)
SELECT series_id, ts_ms, value_e12 AS v, 1 AS sign,
       lag(ts_ms) OVER w AS prev_ts, lag(value_e12) OVER w AS prev_v
FROM win WINDOW w AS (PARTITION BY series_id ORDER BY ts_ms)
UNION ALL
SELECT series_id, ts_ms, value_e12, -1, lag(ts_ms) OVER b, lag(value_e12) OVER b
FROM win WHERE was_stored WINDOW b AS (PARTITION BY series_id ORDER BY ts_ms);
-- No late sample: no such pairs.
CREATE OR REPLACE TEMP TABLE prom_late_pairs (
    series_id BIGINT, ts_ms BIGINT, v HUGEINT, sign INTEGER, prev_ts BIGINT, prev_v HUGEINT);
