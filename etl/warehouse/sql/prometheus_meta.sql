-- A load's series (what the mapping made of them) and its unmapped counts, replacing any
-- earlier load's of the same object. A series stored as it is now is left alone (replacing
-- a row of a keyed table costs far more than comparing it).
INSERT OR REPLACE INTO prometheus_series
WITH i AS (
    SELECT series_key, metric, labels, metric_type, meter_name, unit, kind, customer_id,
           map_from_entries(dimensions) AS dimensions, interval_ms, max_gap_ms, divide_by,
           per_ms
    FROM incoming_series)
SELECT i.*, $now FROM i
WHERE NOT EXISTS (
    SELECT 1 FROM prometheus_series s
    WHERE s.series_key = i.series_key
      AND (s.metric, s.labels, s.metric_type, s.meter_name, s.unit, s.kind, s.customer_id,
           s.dimensions, s.interval_ms, s.max_gap_ms, s.divide_by, s.per_ms)
          IS NOT DISTINCT FROM
          (i.metric, i.labels, i.metric_type, i.meter_name, i.unit, i.kind, i.customer_id,
           i.dimensions, i.interval_ms, i.max_gap_ms, i.divide_by, i.per_ms));
DELETE FROM prometheus_unmapped WHERE source_uri = $uri;
INSERT INTO prometheus_unmapped SELECT $uri, metric, samples, $now FROM incoming_unmapped;
