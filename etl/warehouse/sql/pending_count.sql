SELECT count(*) FROM lake_pending
