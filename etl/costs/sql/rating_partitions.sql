-- The partitions of a rebuild: meter x month, with the events each reads. A meter with monthly
-- tiers reads every event of the month (its tiers need them), the others the rebuilt days only;
-- a partition without an event on a rebuilt day has nothing to rate.
WITH monthly_tiered AS (
  SELECT DISTINCT meter_name FROM rate_card WHERE pricing <> 'flat' AND tier_period = 'month')
SELECT meter_name, date_trunc('month', event_date)::DATE AS month,
       meter_name IN (SELECT meter_name FROM monthly_tiered) AS whole_month, count(*) AS events
FROM meter_events
WHERE event_date IN (SELECT day FROM rollup_days)
   OR (meter_name IN (SELECT meter_name FROM monthly_tiered)
       AND date_trunc('month', event_date)::DATE IN (SELECT month FROM rollup_months))
GROUP BY ALL
HAVING count(*) FILTER (WHERE event_date IN (SELECT day FROM rollup_days)) > 0
ORDER BY month, meter_name
