-- Should a publish be cut short after writing a day's part file, the next one rewrites the day
-- rather than appending its rows a second time.
UPDATE lake_pending SET rewrite = true WHERE NOT rewrite
