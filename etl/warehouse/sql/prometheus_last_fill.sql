-- A warehouse whose samples were stored before prometheus_last existed: fill it, once.
SELECT NOT EXISTS (FROM prometheus_last) AND EXISTS (FROM prometheus_samples);
INSERT INTO prometheus_last
SELECT series_key, max(ts_ms), arg_max(value_e12, ts_ms) FROM prometheus_samples
GROUP BY series_key;
