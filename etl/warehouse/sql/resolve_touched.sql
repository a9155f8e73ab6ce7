-- The event dates whose stored rows `resolved` changed, per file involved: the copy's own,
-- the kept copy's, and the one the copy was a duplicate of (a file whose rows were replaced).
SELECT DISTINCT uri, event_date FROM (
    SELECT source_uri AS uri, event_date FROM resolved WHERE winner <> stored
    UNION ALL SELECT winner_uri, event_date FROM resolved WHERE winner <> stored
    UNION ALL SELECT was_duplicate_of, event_date FROM resolved WHERE winner <> stored
) WHERE uri IS NOT NULL
