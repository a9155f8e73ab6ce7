SELECT event_id, customer_id, meter_name, quantity, event_time, event_date,
       map_entries(dimensions) AS dimensions, billed_cost, effective_cost, currency
FROM meter_events
WHERE event_date IN (SELECT day FROM rollup_days)
   OR (list_contains(?::VARCHAR[], meter_name)
       AND date_trunc('month', event_date)::DATE IN (SELECT month FROM rollup_months))
