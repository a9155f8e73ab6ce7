DELETE FROM cost_daily WHERE event_date IN (SELECT day FROM rollup_days)
