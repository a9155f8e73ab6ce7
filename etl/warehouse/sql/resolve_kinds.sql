-- How many rows of `resolved` each statement of resolve_apply.sql writes, in its order:
-- stored copies that lose, duplicates that win (deleted from duplicate_events and inserted
-- into meter_events), duplicates whose pointer or conflict flag changes. The fifth statement
-- (losing stored copies into duplicate_events) writes as many rows as the first.
SELECT
    count(*) FILTER (WHERE stored AND NOT winner),
    count(*) FILTER (WHERE winner AND NOT stored),
    count(*) FILTER (WHERE winner AND NOT stored),
    count(*) FILTER (WHERE NOT winner AND NOT stored)
FROM resolved
