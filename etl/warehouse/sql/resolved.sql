-- Every copy of the ids in `resolve_ids` (the stored one in meter_events, at the rows
-- resolve_stored.sql found, and the duplicates), ranked by the duplicate rule:
-- the earliest event_time, then the smallest source_uri, then the smallest source_row. The
-- first copy wins (`winner`); a copy whose content (everything but its lineage) differs from
-- the winner's is a `conflict`. Neither depends on which file loaded first.
CREATE OR REPLACE TEMP TABLE resolved AS
WITH copies AS (
    SELECT m.* EXCLUDE (event_key), true AS stored, NULL::VARCHAR AS was_duplicate_of
    FROM meter_events m SEMI JOIN resolve_stored s ON m.rowid = s.row_id
    UNION ALL BY NAME
    SELECT d.* EXCLUDE (duplicate_of_uri, conflict), false AS stored,
        d.duplicate_of_uri AS was_duplicate_of
    FROM duplicate_events d SEMI JOIN resolve_ids i USING (event_id)
),
ranked AS (
    SELECT *,
        struct_pack(customer_id, meter_name, quantity, unit, event_time, dimensions,
                    billed_cost, effective_cost, list_cost, contracted_cost, currency) AS content
    FROM copies
)
SELECT * EXCLUDE (content),
    row_number() OVER w = 1 AS winner,
    first_value(source_uri) OVER w AS winner_uri,
    content IS DISTINCT FROM first_value(content) OVER w AS conflict
FROM ranked
WINDOW w AS (PARTITION BY event_id ORDER BY event_time, source_uri, source_row)
