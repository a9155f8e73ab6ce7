-- A warehouse whose samples were stored before prometheus_last existed: fill it, once.
SELECT NOT EXISTS (FROM prometheus_last) AND EXISTS (FROM prometheus_points);
INSERT INTO prometheus_last
SELECT s.series_key, max(p.ts_ms), arg_max(p.value_e12, p.ts_ms)
FROM prometheus_points p JOIN prometheus_series s USING (series_id)
GROUP BY s.series_key;
