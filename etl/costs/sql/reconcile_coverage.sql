-- Per day: events without a rating row, and events with several.
SELECT e.event_date, count(*) FILTER (WHERE r.event_id IS NULL), count(r.event_id) - count(DISTINCT r.event_id)
FROM meter_events e LEFT JOIN rated_events r USING (event_id)
WHERE e.event_date IN (SELECT day FROM reconcile_days) GROUP BY 1
