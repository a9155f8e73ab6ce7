-- Make `resolved` true, inside the load's transaction. Param of statements 4 and 5: the
-- load's time, stamped on the duplicate rows that changed so the lake republishes them.
DELETE FROM meter_events m USING resolved r
WHERE r.stored AND NOT r.winner
  AND m.source_uri = r.source_uri AND m.source_row = r.source_row AND m.event_id = r.event_id;
DELETE FROM duplicate_events d USING resolved r
WHERE r.winner AND NOT r.stored
  AND d.source_uri = r.source_uri AND d.source_row = r.source_row AND d.event_id = r.event_id;
INSERT INTO meter_events BY NAME
SELECT * EXCLUDE (stored, was_duplicate_of, winner, winner_uri, conflict), event_key_of(event_id) AS event_key
FROM resolved WHERE winner AND NOT stored;
UPDATE duplicate_events d SET duplicate_of_uri = r.winner_uri, conflict = r.conflict, ingested_at = ?::TIMESTAMPTZ
FROM resolved r
WHERE NOT r.winner AND NOT r.stored
  AND d.source_uri = r.source_uri AND d.source_row = r.source_row AND d.event_id = r.event_id
  AND (d.duplicate_of_uri IS DISTINCT FROM r.winner_uri OR d.conflict IS DISTINCT FROM r.conflict);
INSERT INTO duplicate_events BY NAME
SELECT * EXCLUDE (stored, was_duplicate_of, winner, winner_uri, ingested_at), winner_uri AS duplicate_of_uri,
    ?::TIMESTAMPTZ AS ingested_at
FROM resolved WHERE stored AND NOT winner;
