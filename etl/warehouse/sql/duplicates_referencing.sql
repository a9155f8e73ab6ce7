-- Copies deduplicated against a file (params: uri, uri) that another file holds.
SELECT count(*) FROM duplicate_events WHERE duplicate_of_uri = ? AND source_uri <> ?
