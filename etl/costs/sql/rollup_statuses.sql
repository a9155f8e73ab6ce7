SELECT rate_status, count(*) FROM rated_events
WHERE event_date IN (SELECT day FROM rollup_days) GROUP BY rate_status
