-- A load's series (what the mapping made of them) and its unmapped counts, replacing any
-- earlier load's of the same object.
INSERT OR REPLACE INTO prometheus_series
SELECT series_key, metric, labels, metric_type, meter_name, unit, kind, customer_id,
       map_from_entries(dimensions), interval_ms, max_gap_ms, divide_by, per_ms, $now
FROM incoming_series;
DELETE FROM prometheus_unmapped WHERE source_uri = $uri;
INSERT INTO prometheus_unmapped SELECT $uri, metric, samples, $now FROM incoming_unmapped;
