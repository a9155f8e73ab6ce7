SELECT currency, sum(cost) FROM cost_daily
WHERE event_date IN (SELECT day FROM rollup_days) AND currency IS NOT NULL
GROUP BY currency ORDER BY currency
