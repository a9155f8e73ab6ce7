-- Days (param: DATE[]) that gained rows ingested at or after the second param: one more part file.
INSERT INTO lake_pending (event_date, rewrite, appended_since)
SELECT unnest(?::DATE[]), false, ?::TIMESTAMPTZ
ON CONFLICT (event_date) DO UPDATE SET appended_since =
    least(coalesce(lake_pending.appended_since, excluded.appended_since), excluded.appended_since)
