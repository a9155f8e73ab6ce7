CREATE TABLE IF NOT EXISTS ingest_ledger (
    source_uri      VARCHAR PRIMARY KEY,
    source_key      VARCHAR NOT NULL,
    etag            VARCHAR NOT NULL,
    size_bytes      BIGINT NOT NULL,
    checksum_sha256 VARCHAR,
    last_modified   TIMESTAMPTZ,
    source_format   VARCHAR,
    status          VARCHAR NOT NULL,
    rows_in         BIGINT NOT NULL DEFAULT 0,
    events_loaded   BIGINT NOT NULL DEFAULT 0,
    duplicates      BIGINT NOT NULL DEFAULT 0,
    rejected        BIGINT NOT NULL DEFAULT 0,
    superseded      BIGINT NOT NULL DEFAULT 0,
    error           VARCHAR,
    attempts        INTEGER NOT NULL DEFAULT 1,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    loaded_at       TIMESTAMPTZ NOT NULL
)
