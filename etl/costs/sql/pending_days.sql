-- Days (and meters) whose events differ from the fingerprint rollup_state kept of them.
WITH current AS ({{fingerprint}} GROUP BY event_date, meter_name)
SELECT coalesce(c.event_date, s.event_date), coalesce(c.meter_name, s.meter_name)
FROM current c FULL JOIN rollup_state s
  ON c.event_date = s.event_date AND c.meter_name = s.meter_name
WHERE c.event_date IS NULL OR s.event_date IS NULL OR c.events <> s.events
   OR c.max_ingested_at <> s.max_ingested_at OR c.fingerprint <> s.fingerprint
