SELECT meter_name, sum(unrated_events) FROM cost_daily
WHERE event_date IN (SELECT day FROM rollup_days)
GROUP BY meter_name HAVING sum(unrated_events) > 0 ORDER BY meter_name
