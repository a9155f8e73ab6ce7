-- The event_ids whose copies are ranked again: those with a duplicate not ranked yet
-- (`conflict` is null until it is) and those with copies deduplicated against a file whose
-- rows were replaced or removed (the registered `resolve_uris`).
CREATE OR REPLACE TEMP TABLE resolve_ids AS
SELECT DISTINCT event_id FROM duplicate_events
WHERE conflict IS NULL OR duplicate_of_uri IN (SELECT uri FROM resolve_uris)
