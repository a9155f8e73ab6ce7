-- The changed intervals' events are replaced: event ids are
-- `prometheus:<series_key>:<interval start ms>`, so a recomputation finds its predecessor.
-- The quantity is the exact usage divided once, rounded half-even to 12 decimal places.
DELETE FROM meter_events
WHERE event_key IN (
    SELECT md5_number('prometheus:' || series_key || ':' || CAST(interval_start AS VARCHAR))
    FROM prom_delta);
INSERT INTO meter_events (
    event_id, customer_id, meter_name, quantity, unit, event_time, event_date, dimensions,
    billed_cost, effective_cost, list_cost, contracted_cost, currency,
    source_format, source_uri, source_row, ingested_at, event_key)
WITH rounded AS (
    SELECT u.series_key, u.interval_start,
           sign(u.units) * (abs(u.units) // u.divisor + CASE
               WHEN 2 * (abs(u.units) % u.divisor) > u.divisor
                 OR (2 * (abs(u.units) % u.divisor) = u.divisor
                     AND (abs(u.units) // u.divisor) % 2 = 1) THEN 1 ELSE 0 END) AS q
    FROM prometheus_usage u JOIN prom_delta d USING (series_key, interval_start))
SELECT 'prometheus:' || q.series_key || ':' || CAST(q.interval_start AS VARCHAR),
       r.customer_id, r.meter_name,
       CAST(CAST(q.q AS DECIMAL(38, 0)) * 0.000000000001 AS DECIMAL(38, 12)), r.unit,
       to_timestamp(q.interval_start / 1000.0),
       DATE '1970-01-01' + CAST(q.interval_start // 86400000 AS INTEGER),
       r.dimensions, NULL, NULL, NULL, NULL, NULL,
       'prometheus', 'prometheus:series/' || q.series_key, 1, $now,
       md5_number('prometheus:' || q.series_key || ':' || CAST(q.interval_start AS VARCHAR))
FROM rounded q JOIN prometheus_series r USING (series_key)
WHERE q.q <> 0;
SELECT DISTINCT DATE '1970-01-01' + CAST(interval_start // 86400000 AS INTEGER) FROM prom_delta;
