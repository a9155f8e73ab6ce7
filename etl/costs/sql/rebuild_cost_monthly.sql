DELETE FROM cost_monthly WHERE month IN (SELECT month FROM rollup_months);
INSERT INTO cost_monthly
SELECT date_trunc('month', event_date)::DATE AS m, customer_id, meter_name, dimensions, unit, currency,
       sum(quantity), sum(event_count), sum(rated_cost), sum(billed_cost), sum(effective_cost),
       sum(cost), sum(unrated_events), sum(unrated_quantity), count(DISTINCT event_date)
FROM cost_daily
WHERE date_trunc('month', event_date)::DATE IN (SELECT month FROM rollup_months)
GROUP BY m, customer_id, meter_name, dimensions, unit, currency;
