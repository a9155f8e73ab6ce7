-- The objects' samples (one per series and timestamp: the first object's copy, the lowest
-- value of any duplicates in it; see _store_samples). value_e12 arrives as its high (signed)
-- and low 64 bits. A sample after its series' latest stored one is new without a look at the
-- stored samples; the others (`late`: a replay, a late object) are checked next.
CREATE OR REPLACE TEMP TABLE prom_new AS
SELECT r.series_id, i.sid, i.ts_ms, i.ordinal,
       CAST(i.units_hi AS HUGEINT) * 18446744073709551616 + i.units_lo AS value_e12,
       coalesce(i.ts_ms <= r.last_ts, false) AS late
FROM incoming_samples i JOIN prom_rules r USING (sid);
-- Late samples already stored are not new. Params: the lowest and highest incoming ts_ms
-- (prune the stored side).
DELETE FROM prom_new n
WHERE n.late AND EXISTS (
    SELECT 1 FROM prometheus_points s
    WHERE s.series_id = n.series_id AND s.ts_ms = n.ts_ms AND s.ts_ms BETWEEN $lo AND $hi);
-- Samples newly stored per object, and whether any is late.
SELECT ordinal, count(*), bool_or(late) FROM prom_new GROUP BY ordinal;
-- Stored, each with its object's number. Param: the objects' numbers (by ordinal).
INSERT INTO prometheus_points
SELECT series_id, ts_ms, value_e12, $objects[ordinal + 1] FROM prom_new;
