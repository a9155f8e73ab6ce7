-- The object's samples, one per series and timestamp (the lowest value of any duplicates).
CREATE OR REPLACE TEMP TABLE prom_in AS
SELECT series_key, ts_ms, min(value) AS value,
       CAST(arg_min(value_e12, value) AS HUGEINT) AS value_e12
FROM incoming_samples GROUP BY series_key, ts_ms;
-- Samples after their series' latest stored one are new without a look at the stored ones.
CREATE OR REPLACE TEMP TABLE prom_new AS
SELECT i.series_key, i.ts_ms, i.value, i.value_e12
FROM prom_in i LEFT JOIN prometheus_last l USING (series_key)
WHERE l.ts_ms IS NULL OR i.ts_ms > l.ts_ms;
-- The others (a replay, a late object) are new only when not stored yet. Params: the lowest
-- and highest incoming ts_ms (prune the stored side).
INSERT INTO prom_new
SELECT i.series_key, i.ts_ms, i.value, i.value_e12
FROM prom_in i JOIN prometheus_last l USING (series_key)
WHERE i.ts_ms <= l.ts_ms AND NOT EXISTS (
    SELECT 1 FROM prometheus_samples s
    WHERE s.series_key = i.series_key AND s.ts_ms = i.ts_ms AND s.ts_ms BETWEEN $lo AND $hi);
-- Stored. Params: source_uri, load time.
INSERT INTO prometheus_samples
SELECT series_key, ts_ms, value, value_e12, $uri, $now FROM prom_new;
