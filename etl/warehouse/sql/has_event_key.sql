SELECT count(*) FROM duckdb_columns() WHERE table_name = 'meter_events' AND column_name = 'event_key'
