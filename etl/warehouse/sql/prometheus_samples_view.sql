-- Every stored sample with its series key, value and the object it came from.
CREATE VIEW IF NOT EXISTS prometheus_samples AS
SELECT s.series_key, p.ts_ms, CAST(p.value_e12 AS DOUBLE) / 1e12 AS value, p.value_e12,
       o.source_uri, o.loaded_at AS ingested_at
FROM prometheus_points p JOIN prometheus_series s USING (series_id)
JOIN prometheus_objects o USING (object_id);
