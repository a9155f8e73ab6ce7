-- The remaining copies of a promoted event are now duplicates of the promoted copy's file.
UPDATE duplicate_events d SET duplicate_of_uri = p.source_uri
FROM promoted p WHERE d.event_id = p.event_id
