-- Days (param: DATE[]) whose lake files the next publish writes anew.
INSERT INTO lake_pending (event_date, rewrite) SELECT unnest(?::DATE[]), true
ON CONFLICT (event_date) DO UPDATE SET rewrite = true
