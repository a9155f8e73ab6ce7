-- Per event_id, the first copy deduplicated against a file (param: uri) whose event_id no
-- stored row holds any more: it becomes the stored copy.
CREATE OR REPLACE TEMP TABLE promoted AS
SELECT * EXCLUDE (rn) FROM (
  SELECT d.*, row_number() OVER (PARTITION BY d.event_id ORDER BY d.source_uri, d.source_row) AS rn
  FROM duplicate_events d
  WHERE d.duplicate_of_uri = ?
    AND NOT EXISTS (SELECT 1 FROM meter_events m WHERE m.event_id = d.event_id)
) WHERE rn = 1
