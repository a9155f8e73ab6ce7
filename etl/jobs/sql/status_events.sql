-- The stored events: how many, first and last event day.
SELECT count(*) AS events, min(event_date) AS first_date, max(event_date) AS last_date FROM meter_events
