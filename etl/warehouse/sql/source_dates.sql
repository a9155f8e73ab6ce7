SELECT DISTINCT event_date FROM meter_events WHERE source_uri = ?
