DELETE FROM lake_pending WHERE event_date IN (SELECT unnest(?::DATE[]))
