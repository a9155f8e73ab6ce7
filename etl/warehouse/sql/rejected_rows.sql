CREATE TABLE IF NOT EXISTS rejected_rows (
    source_uri  VARCHAR NOT NULL,
    source_row  BIGINT,
    column_name VARCHAR,
    rule        VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    raw_record  VARCHAR,
    rejected_at TIMESTAMPTZ NOT NULL
)
