-- The objects' samples, one per series and timestamp: the copy of the first object (its
-- ordinal in the group), the lowest value of any duplicates in it. value_e12 arrives as its
-- high (signed) and low 64 bits.
CREATE OR REPLACE TEMP TABLE prom_in AS
SELECT series_key, ts_ms, min(ordinal) AS ordinal, arg_min(value, {'o': ordinal, 'v': value}) AS value,
       arg_min(CAST(units_hi AS HUGEINT) * 18446744073709551616 + units_lo,
               {'o': ordinal, 'v': value}) AS value_e12
FROM incoming_samples GROUP BY series_key, ts_ms;
-- Samples after their series' latest stored one are new without a look at the stored ones.
CREATE OR REPLACE TEMP TABLE prom_new AS
SELECT i.series_key, i.ts_ms, i.value, i.value_e12, i.ordinal
FROM prom_in i LEFT JOIN prometheus_last l USING (series_key)
WHERE l.ts_ms IS NULL OR i.ts_ms > l.ts_ms;
-- The others (a replay, a late object) are new only when not stored yet. Params: the lowest
-- and highest incoming ts_ms (prune the stored side).
INSERT INTO prom_new
SELECT i.series_key, i.ts_ms, i.value, i.value_e12, i.ordinal
FROM prom_in i JOIN prometheus_last l USING (series_key)
WHERE i.ts_ms <= l.ts_ms AND NOT EXISTS (
    SELECT 1 FROM prometheus_samples s
    WHERE s.series_key = i.series_key AND s.ts_ms = i.ts_ms AND s.ts_ms BETWEEN $lo AND $hi);
-- Samples newly stored per object.
SELECT ordinal, count(*) FROM prom_new GROUP BY ordinal;
-- Stored, each naming its object. Param: load time.
INSERT INTO prometheus_samples
SELECT n.series_key, n.ts_ms, n.value, n.value_e12, o.source_uri, $now
FROM prom_new n JOIN incoming_objects o USING (ordinal);
