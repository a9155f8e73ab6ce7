-- The rating output's rated cost per rebuilt day (reconcile checks cost_daily against it).
SELECT event_date, sum(rated_cost) FROM rated_events
WHERE event_date IN (SELECT day FROM rollup_days) GROUP BY event_date
