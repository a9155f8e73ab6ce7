-- How the new samples change usage per series x interval. Usage is a sum over consecutive
-- sample pairs, so only the pairs the new samples make or break change. Exact integers:
-- values in units of 1e-12 (value_e12), times milliseconds for gauges.
-- Pairs: those of the late samples' spans (prom_late_pairs), and for the other series the
-- pairs from their latest stored sample (prom_rules: as before this load) through the new
-- ones. Series by their number (sid). A pair further apart than its series' gap_ms counts
-- nothing, wherever its two samples came from (one object or two, in either order):
--   counter: the increase from the previous sample belongs to the later sample's interval,
--            a drop being a restart from zero (the increase is the new value); no
--            extrapolation; after a silence longer than gap_ms (a day) the next sample is a
--            new baseline
--   gauge:   the previous sample's value holds until this sample, split at interval
--            boundaries (only a pair that crosses one is split), for at most gap_ms
--            (max_gap): a longer silence counts nothing
CREATE OR REPLACE TEMP TABLE prom_delta AS
WITH appended AS (
    SELECT sid, min(ts_ms) AS lo FROM prom_new GROUP BY sid HAVING NOT bool_or(late)),
win AS (
    SELECT n.sid, n.ts_ms, n.value_e12 FROM prom_new n SEMI JOIN appended USING (sid)
    UNION ALL
    SELECT sid, r.last_ts, r.last_v FROM appended a JOIN prom_rules r USING (sid)
    WHERE r.last_ts >= a.lo - r.gap_ms),
pairs AS (
    SELECT sid, ts_ms, value_e12 AS v, 1 AS sign,
           lag(ts_ms) OVER w AS prev_ts, lag(value_e12) OVER w AS prev_v
    FROM win WINDOW w AS (PARTITION BY sid ORDER BY ts_ms)
    UNION ALL
    SELECT r.sid, l.ts_ms, l.v, l.sign, l.prev_ts, l.prev_v
    FROM prom_late_pairs l JOIN prom_rules r USING (series_id)),
p AS MATERIALIZED (
    SELECT p.*, r.kind = 'counter' AS is_counter, r.interval_ms,
           r.divide_by::HUGEINT * CASE WHEN r.kind = 'counter' THEN 1 ELSE r.per_ms END AS divisor
    FROM pairs p JOIN prom_rules r USING (sid)
    WHERE p.prev_ts IS NOT NULL AND p.ts_ms - p.prev_ts <= r.gap_ms),
pieces AS (
    SELECT sid,
           CASE WHEN is_counter THEN ts_ms ELSE prev_ts END // interval_ms * interval_ms
             AS interval_start,
           sign * CASE WHEN NOT is_counter THEN prev_v * (ts_ms - prev_ts)
                       WHEN v >= prev_v THEN v - prev_v ELSE v END AS units,
           divisor
    FROM p WHERE is_counter OR prev_ts // interval_ms = (ts_ms - 1) // interval_ms
    UNION ALL
    SELECT sid, k * interval_ms,
           sign * prev_v
             * (least(ts_ms, (k + 1) * interval_ms) - greatest(prev_ts, k * interval_ms)),
           divisor
    FROM p, UNNEST(range(prev_ts // interval_ms, (ts_ms - 1) // interval_ms + 1)) AS u(k)
    WHERE NOT is_counter AND prev_ts // interval_ms <> (ts_ms - 1) // interval_ms),
usage AS (
    SELECT sid, interval_start, sum(units) AS units, any_value(divisor) AS divisor
    FROM pieces GROUP BY sid, interval_start)
SELECT r.series_key, u.interval_start, u.units, u.divisor
FROM usage u JOIN prom_rules r USING (sid);
INSERT INTO prometheus_usage
SELECT series_key, interval_start, units, divisor FROM prom_delta
ON CONFLICT (series_key, interval_start) DO UPDATE SET units = units + excluded.units;
-- The latest stored sample of each series with new samples.
INSERT INTO prometheus_last
WITH latest AS (
    SELECT sid, max(ts_ms) AS ts_ms, arg_max(value_e12, ts_ms) AS value_e12
    FROM prom_new GROUP BY sid)
SELECT r.series_key, l.ts_ms, l.value_e12 FROM latest l JOIN prom_rules r USING (sid)
ON CONFLICT (series_key) DO UPDATE SET ts_ms = excluded.ts_ms, value_e12 = excluded.value_e12
WHERE excluded.ts_ms > prometheus_last.ts_ms;
