DELETE FROM meter_events WHERE source_uri = ?;
DELETE FROM duplicate_events WHERE source_uri = ?;
DELETE FROM rejected_rows WHERE source_uri = ?;
DELETE FROM focus_line_items WHERE source_uri = ?;
DELETE FROM focus_conformance WHERE source_uri = ?;
DELETE FROM focus_reconciliation WHERE source_uri = ?;
