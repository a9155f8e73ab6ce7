DELETE FROM rated_events WHERE event_date IN (SELECT day FROM rollup_days)
