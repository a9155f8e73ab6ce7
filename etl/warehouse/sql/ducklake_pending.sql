-- On a DuckLake, lake_pending is private to the connection: the DuckLake is itself the read
-- path (any DuckDB attaches it; readers see committed snapshots), so there is no Parquet lake
-- to publish and nothing to remember between runs. The loads still write it, in the same
-- statements as on the DuckDB file.
CREATE TEMP TABLE IF NOT EXISTS lake_pending (
    event_date     DATE PRIMARY KEY,
    rewrite        BOOLEAN DEFAULT true,
    appended_since TIMESTAMPTZ
)
