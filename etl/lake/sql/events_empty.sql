SELECT * EXCLUDE (event_date, event_key) FROM meter_events WHERE false
