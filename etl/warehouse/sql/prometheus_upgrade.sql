-- A warehouse that stored its Prometheus samples as a table with the series key and the
-- object's URI on every sample (before prometheus_points): whether it has one.
SELECT count(*) > 0 FROM information_schema.tables
WHERE table_name = 'prometheus_samples' AND table_type = 'BASE TABLE'
  AND table_schema = current_schema() AND table_catalog = current_database();
-- Its series get their numbers, its objects theirs, its samples move to prometheus_points,
-- and prometheus_samples becomes the view (prometheus_samples_view.sql) over them.
UPDATE prometheus_series s SET series_id = n.id
FROM (SELECT series_key, row_number() OVER (ORDER BY series_key) AS id
      FROM prometheus_series) n
WHERE s.series_key = n.series_key AND s.series_id IS NULL;
INSERT INTO prometheus_objects
SELECT source_uri, row_number() OVER (ORDER BY source_uri), min(ingested_at)
FROM prometheus_samples GROUP BY source_uri;
INSERT INTO prometheus_points
SELECT s.series_id, p.ts_ms, p.value_e12, o.object_id
FROM prometheus_samples p JOIN prometheus_series s USING (series_key)
JOIN prometheus_objects o USING (source_uri);
DROP TABLE prometheus_samples;
