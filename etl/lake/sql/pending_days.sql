SELECT event_date, rewrite, appended_since FROM lake_pending
