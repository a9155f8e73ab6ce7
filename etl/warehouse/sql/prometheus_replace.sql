-- The touched intervals' events are replaced by the recomputed ones (event ids are
-- `prometheus:<series_key>:<interval start ms>`, so a recomputation finds its predecessor).
CREATE OR REPLACE TEMP TABLE prom_old AS
SELECT m.event_date FROM meter_events m
WHERE m.event_key IN (
    SELECT md5_number('prometheus:' || t.series_key || ':' || CAST(k * t.interval_ms AS VARCHAR))
    FROM prom_touched t, UNNEST(range(t.from_ms // t.interval_ms, t.to_ms // t.interval_ms)) AS u(k));
DELETE FROM meter_events
WHERE event_key IN (
    SELECT md5_number('prometheus:' || t.series_key || ':' || CAST(k * t.interval_ms AS VARCHAR))
    FROM prom_touched t, UNNEST(range(t.from_ms // t.interval_ms, t.to_ms // t.interval_ms)) AS u(k));
INSERT INTO meter_events (
    event_id, customer_id, meter_name, quantity, unit, event_time, event_date, dimensions,
    billed_cost, effective_cost, list_cost, contracted_cost, currency,
    source_format, source_uri, source_row, ingested_at, event_key)
SELECT 'prometheus:' || u.series_key || ':' || CAST(u.interval_start AS VARCHAR),
       r.customer_id, r.meter_name, u.quantity, r.unit,
       to_timestamp(u.interval_start / 1000.0),
       DATE '1970-01-01' + CAST(u.interval_start // 86400000 AS INTEGER),
       r.dimensions, NULL, NULL, NULL, NULL, NULL,
       'prometheus', 'prometheus:series/' || u.series_key, 1, $now,
       md5_number('prometheus:' || u.series_key || ':' || CAST(u.interval_start AS VARCHAR))
FROM prom_usage u JOIN prometheus_series r USING (series_key);
SELECT DISTINCT event_date FROM meter_events
WHERE event_key IN (
    SELECT md5_number('prometheus:' || series_key || ':' || CAST(interval_start AS VARCHAR))
    FROM prom_usage);
