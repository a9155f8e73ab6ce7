SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?)
