DELETE FROM rollup_state WHERE event_date IN (SELECT day FROM rollup_days);
-- Parameters: the rate card version, the time of the rollup.
INSERT INTO rollup_state
SELECT event_date, meter_name, events, max_ingested_at, fingerprint, ?, ?
FROM ({{fingerprint}} WHERE event_date IN (SELECT day FROM rollup_days)
      GROUP BY event_date, meter_name);
