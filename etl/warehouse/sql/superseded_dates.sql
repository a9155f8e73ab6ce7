SELECT DISTINCT m.event_date FROM meter_events m JOIN superseded s USING (source_uri, source_row)
