-- Where the stored copies of the ids in `resolve_ids` are: their rows of meter_events, found by
-- event_key within the dates params 1..2. Only the key and the date are read here; `resolved`
-- then fetches just these rows, so ranking a few ids never reads every stored row in full.
CREATE OR REPLACE TEMP TABLE resolve_stored AS
SELECT m.rowid AS row_id
FROM meter_events m JOIN (SELECT event_key_of(event_id) AS event_key FROM resolve_ids) i
    ON m.event_key = i.event_key
WHERE m.event_date BETWEEN ?::DATE AND ?::DATE
