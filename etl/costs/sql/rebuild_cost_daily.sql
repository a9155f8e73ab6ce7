DELETE FROM cost_daily WHERE event_date IN (SELECT day FROM rollup_days);
-- The parameter is the list of dimension keys a rollup row keeps (Settings.rollup_dimensions).
INSERT INTO cost_daily
SELECT e.event_date, e.customer_id, e.meter_name,
       map_from_entries(list_transform(?::VARCHAR[], lambda k: {'key': k, 'value': e.dimensions[k]})) AS dims,
       e.unit, coalesce(r.currency, e.currency) AS cur,
       sum(e.quantity), count(*),
       sum(r.rated_cost), sum(e.billed_cost), sum(e.effective_cost), sum({{event_cost}}),
       count(*) FILTER (WHERE r.rate_status = 'unrated'),
       sum(e.quantity) FILTER (WHERE r.rate_status = 'unrated')
FROM meter_events e JOIN rated_events r USING (event_id)
WHERE e.event_date IN (SELECT day FROM rollup_days)
GROUP BY e.event_date, e.customer_id, e.meter_name, dims, e.unit, cur;
