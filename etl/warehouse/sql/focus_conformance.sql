-- Conformance findings: a FOCUS rule a kept line item breaks outside its placing and pricing
-- columns. The row is loaded; value is the offending text (null when the value is missing).
CREATE TABLE IF NOT EXISTS focus_conformance (
    source_uri  VARCHAR NOT NULL,
    source_row  BIGINT NOT NULL,
    column_name VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,
    value       VARCHAR,
    found_at    TIMESTAMPTZ NOT NULL
)
