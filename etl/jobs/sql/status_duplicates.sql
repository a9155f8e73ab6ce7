-- Copies of stored events kept aside, and how many of them differ from the kept copy.
SELECT count(*) AS copies, count(*) FILTER (WHERE conflict) AS conflicting FROM duplicate_events
