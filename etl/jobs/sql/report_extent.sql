-- What the published lake holds: the newest day with cost, the newest event day, and whether
-- anything was ever loaded or rolled up (the page's empty states).
SELECT
    (SELECT max(event_date) FROM cost_daily WHERE cost IS NOT NULL) AS latest_cost_day,
    (SELECT max(event_date) FROM meter_events) AS latest_event_day,
    (SELECT count(*) FROM ingest_ledger) AS ledger_files,
    (SELECT count(*) FROM cost_daily) AS cost_rows
