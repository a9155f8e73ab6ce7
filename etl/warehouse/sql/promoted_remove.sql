DELETE FROM duplicate_events d USING promoted p
WHERE d.source_uri = p.source_uri AND d.source_row = p.source_row AND d.event_id = p.event_id
