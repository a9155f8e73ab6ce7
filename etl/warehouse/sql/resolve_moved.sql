-- Per file, how many of its copies `resolved` moved into meter_events (positive) or out of it
-- (negative).
SELECT source_uri,
    count(*) FILTER (WHERE winner AND NOT stored) - count(*) FILTER (WHERE stored AND NOT winner) AS moved
FROM resolved WHERE winner <> stored GROUP BY source_uri
