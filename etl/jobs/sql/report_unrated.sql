-- Usage no price matched, per meter and customer (busiest first), with the total of all of it.
-- $1..$2: the days; $3 customer, $4 meter: NULL for all; $5: how many rows.
SELECT meter_name AS meter, customer_id AS customer, unit,
       sum(events) AS events, sum(quantity) AS quantity,
       min(event_date) AS first_day, max(event_date) AS last_day,
       sum(sum(events)) OVER () AS total_events
FROM unrated_usage
WHERE event_date BETWEEN $1 AND $2
  AND ($3 IS NULL OR customer_id = $3)
  AND ($4 IS NULL OR meter_name = $4)
GROUP BY meter_name, customer_id, unit
ORDER BY events DESC, meter, customer
LIMIT $5
