-- The rows each day in the registered `publish_appends` gained since its `since`.
SELECT m.* EXCLUDE (event_key) FROM meter_events m JOIN publish_appends p
ON m.event_date = p.event_date AND m.ingested_at >= p.since
