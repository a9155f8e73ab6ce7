-- Per day, the sums cost_daily must equal, in reconcile's column order (event_count, quantity,
-- rated_cost, billed_cost, effective_cost, cost, unrated_events).
SELECT e.event_date, count(*), sum(e.quantity), sum(r.rated_cost), sum(e.billed_cost),
       sum(e.effective_cost), sum({{event_cost}}),
       count(*) FILTER (WHERE r.rate_status = 'unrated')
FROM meter_events e LEFT JOIN rated_events r USING (event_id)
WHERE e.event_date IN (SELECT day FROM reconcile_days) GROUP BY 1
