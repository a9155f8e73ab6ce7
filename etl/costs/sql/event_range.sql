SELECT min(event_date), max(event_date) FROM meter_events
