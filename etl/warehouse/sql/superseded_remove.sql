DELETE FROM meter_events m USING superseded s WHERE m.source_uri = s.source_uri AND m.source_row = s.source_row;
DELETE FROM duplicate_events d USING superseded s WHERE d.source_uri = s.source_uri AND d.source_row = s.source_row;
DELETE FROM focus_line_items f USING superseded s WHERE f.source_uri = s.source_uri AND f.source_row = s.source_row;
DELETE FROM focus_conformance f USING superseded s WHERE f.source_uri = s.source_uri AND f.source_row = s.source_row;
