SELECT view_name FROM duckdb_views() WHERE starts_with(view_name, ?)
