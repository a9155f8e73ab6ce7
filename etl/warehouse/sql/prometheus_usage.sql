-- Usage per touched series x interval, exact: each float value becomes the decimal of its
-- shortest text (DuckDB's DOUBLE -> VARCHAR, Python's repr), rounded half-even to 12 places.
-- Pieces are integers in units of 1e-12 (counters) or 1e-12 x ms (gauges): summing is
-- exact; the one division (by divide_by, and per_ms for gauges) rounds half-even to 12
-- decimal places, once per event.
--   counter: the increase from the previous sample belongs to the later sample's interval,
--            a drop is a restart from zero (the increase is the new value); no extrapolation.
--   gauge:   the previous sample's value holds until this sample, split at interval
--            boundaries; a gap longer than max_gap_ms counts nothing.
CREATE OR REPLACE TEMP TABLE prom_usage AS
WITH win AS (
    SELECT s.series_key, s.ts_ms, s.value
    FROM prometheus_samples s JOIN prom_touched t USING (series_key)
    WHERE s.ts_ms >= t.base_ms AND s.ts_ms < t.to_ms),
ordered AS (
    SELECT series_key, ts_ms,
           CAST(CAST(value AS VARCHAR) AS DECIMAL(38, 12)) AS v,
           lag(ts_ms) OVER w AS prev_ts,
           lag(CAST(CAST(value AS VARCHAR) AS DECIMAL(38, 12))) OVER w AS prev_v
    FROM win WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms)),
pieces AS (
    SELECT o.series_key, (o.ts_ms // r.interval_ms) * r.interval_ms AS interval_start,
           CAST((CASE WHEN o.v >= o.prev_v THEN o.v - o.prev_v ELSE o.v END)
                * 1000000000000 AS HUGEINT) AS units,
           r.divide_by::HUGEINT AS divisor
    FROM ordered o JOIN prometheus_series r USING (series_key)
    WHERE r.kind = 'counter' AND o.prev_ts IS NOT NULL
    UNION ALL
    SELECT o.series_key, k * r.interval_ms AS interval_start,
           CAST(o.prev_v * 1000000000000 AS HUGEINT)
             * (least(o.ts_ms, (k + 1) * r.interval_ms) - greatest(o.prev_ts, k * r.interval_ms)),
           r.divide_by::HUGEINT * r.per_ms
    FROM ordered o JOIN prometheus_series r USING (series_key),
         UNNEST(range(o.prev_ts // r.interval_ms, (o.ts_ms - 1) // r.interval_ms + 1)) AS u(k)
    WHERE r.kind = 'gauge' AND o.prev_ts IS NOT NULL
      AND o.ts_ms - o.prev_ts <= r.max_gap_ms),
sums AS (
    SELECT p.series_key, p.interval_start, sum(p.units) AS total, any_value(p.divisor) AS d
    FROM pieces p JOIN prom_touched t USING (series_key)
    WHERE p.interval_start >= t.from_ms AND p.interval_start < t.to_ms
    GROUP BY p.series_key, p.interval_start),
rounded AS (
    SELECT series_key, interval_start,
           sign(total) * (abs(total) // d + CASE
               WHEN 2 * (abs(total) % d) > d
                 OR (2 * (abs(total) % d) = d AND (abs(total) // d) % 2 = 1) THEN 1 ELSE 0 END)
             AS q
    FROM sums)
SELECT series_key, interval_start,
       CAST(CAST(q AS DECIMAL(38, 0)) * 0.000000000001 AS DECIMAL(38, 12)) AS quantity
FROM rounded WHERE q <> 0;
