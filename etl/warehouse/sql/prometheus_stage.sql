-- The object's samples not stored yet (one per series and timestamp), then stored.
-- Params: lowest and highest incoming ts_ms (prunes the stored side), source_uri, load time.
CREATE OR REPLACE TEMP TABLE prom_new AS
SELECT i.series_key, i.ts_ms, min(i.value) AS value, arg_min(i.value_e12, i.value) AS value_e12
FROM incoming_samples i
WHERE NOT EXISTS (
    SELECT 1 FROM prometheus_samples s
    WHERE s.series_key = i.series_key AND s.ts_ms = i.ts_ms AND s.ts_ms BETWEEN $lo AND $hi)
GROUP BY i.series_key, i.ts_ms;
INSERT INTO prometheus_samples
SELECT series_key, ts_ms, value,
       CAST(value_e12 AS HUGEINT),
       $uri, $now
FROM prom_new;
