-- Rows rejected per day (UTC) and rule, with the first rejected row's reason and file as the
-- example, and the run that loaded that file ({{run_id}}, {{run_dag_id}}: ledger columns, or
-- NULL while the ledger records no run). $1..$2: the days.
WITH rejects AS (
    SELECT CAST(rejected_at AS DATE) AS day, rule, reason, source_uri, source_row
    FROM rejected_rows
    WHERE CAST(rejected_at AS DATE) BETWEEN $1 AND $2
)
SELECT r.day, r.rule, count(*) OVER (PARTITION BY r.day, r.rule) AS rows_rejected,
       r.reason AS example_reason, r.source_uri AS example_uri, r.source_row AS example_row,
       {{run_dag_id}} AS run_dag_id, {{run_id}} AS run_id
FROM rejects r
LEFT JOIN ingest_ledger l ON l.source_uri = r.source_uri
QUALIFY row_number() OVER (
    PARTITION BY r.day, r.rule ORDER BY r.source_uri, r.source_row NULLS LAST) = 1
ORDER BY r.day DESC, rows_rejected DESC, r.rule
