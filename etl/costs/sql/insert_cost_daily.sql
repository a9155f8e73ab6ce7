-- cost_daily rows of one rated partition (a meter's events of rebuilt days: whole groups).
-- The parameter is the list of dimension keys a rollup row keeps (Settings.rollup_dimensions).
INSERT INTO cost_daily
SELECT event_date, customer_id, meter_name,
       map_from_entries(list_transform(?::VARCHAR[], lambda k: {'key': k, 'value': dimensions[k]})) AS dims,
       unit, coalesce(currency, event_currency) AS cur,
       sum(quantity), count(*),
       sum(rated_cost), sum(billed_cost), sum(effective_cost), sum({{event_cost}}),
       count(*) FILTER (WHERE rate_status = 'unrated'),
       sum(quantity) FILTER (WHERE rate_status = 'unrated')
FROM rated_partition
GROUP BY event_date, customer_id, meter_name, dims, unit, cur
