-- The rated cost of the data center's own usage in one month, one row per day, customer, meter,
-- tags and price (params: first day, first day of the next month). Events a FOCUS file brought
-- in are a provider's costs, not this data center's, and unrated usage has no price: both stay out.
SELECT m.event_date, m.customer_id, m.meter_name, m.unit, r.currency, r.rate_id, r.pricing,
       r.unit_price, r.adjustment_pct,
       to_json(m.dimensions)::VARCHAR AS tags,
       sum(m.quantity) AS quantity,
       sum(r.base_cost) AS list_cost,
       sum(r.rated_cost) AS rated_cost,
       count(*) AS events
FROM meter_events m
JOIN rated_events r ON r.event_id = m.event_id AND r.event_date = m.event_date
WHERE m.event_date >= ?::DATE AND m.event_date < ?::DATE
  AND r.rate_status = 'rated'
  AND m.source_format NOT LIKE 'focus%'
GROUP BY ALL
ORDER BY ALL
