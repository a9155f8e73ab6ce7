-- A load's series (what the mapping made of them) and its unmapped counts, replacing any
-- earlier load's of the same object. A series stored as it is now is left alone (replacing
-- a row of a keyed table costs far more than comparing it); a replaced one keeps its number,
-- a new one gets the next.
INSERT OR REPLACE INTO prometheus_series (
    series_key, metric, labels, metric_type, meter_name, unit, kind, customer_id, dimensions,
    interval_ms, max_gap_ms, divide_by, per_ms, updated_at, series_id)
WITH i AS (
    SELECT series_key, metric, labels, metric_type, meter_name, unit, kind, customer_id,
           map_from_entries(dimensions) AS dimensions, interval_ms, max_gap_ms, divide_by,
           per_ms
    FROM incoming_series),
changed AS (
    SELECT i.* FROM i
    WHERE NOT EXISTS (
        SELECT 1 FROM prometheus_series s
        WHERE s.series_key = i.series_key
          AND (s.metric, s.labels, s.metric_type, s.meter_name, s.unit, s.kind, s.customer_id,
               s.dimensions, s.interval_ms, s.max_gap_ms, s.divide_by, s.per_ms)
              IS NOT DISTINCT FROM
              (i.metric, i.labels, i.metric_type, i.meter_name, i.unit, i.kind, i.customer_id,
               i.dimensions, i.interval_ms, i.max_gap_ms, i.divide_by, i.per_ms)))
SELECT c.*, $now,
       coalesce(s.series_id,
                (SELECT coalesce(max(series_id), 0) FROM prometheus_series)
                + row_number() OVER (PARTITION BY s.series_id IS NULL ORDER BY c.series_key))
FROM changed c LEFT JOIN prometheus_series s USING (series_key);
DELETE FROM prometheus_unmapped WHERE source_uri = $uri;
INSERT INTO prometheus_unmapped SELECT $uri, metric, samples, $now FROM incoming_unmapped;
-- The group's objects get a number each (kept when an object is loaded again). Params: the
-- objects' URIs, load time.
INSERT INTO prometheus_objects
SELECT u.uri, (SELECT coalesce(max(object_id), 0) FROM prometheus_objects)
              + row_number() OVER (ORDER BY u.uri), $now
FROM (SELECT DISTINCT unnest($uris) AS uri) u
WHERE u.uri NOT IN (SELECT source_uri FROM prometheus_objects);
SELECT list(o.object_id ORDER BY u.i)
FROM unnest($uris) WITH ORDINALITY AS u(uri, i) JOIN prometheus_objects o ON o.source_uri = u.uri;
