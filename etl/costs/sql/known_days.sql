SELECT day FROM (
  SELECT DISTINCT event_date AS day FROM meter_events
  UNION SELECT DISTINCT event_date FROM rollup_state)
WHERE (?::DATE IS NULL OR day >= ?::DATE) AND (?::DATE IS NULL OR day <= ?::DATE)
ORDER BY day
