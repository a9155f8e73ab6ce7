-- The customers with the most cost in a period, per currency.
-- $1..$2: the days; $3 customer, $4 meter, $5 currency: NULL for all; $6: how many.
SELECT currency, customer_id AS customer, sum(cost) AS cost, sum(event_count) AS events
FROM cost_daily
WHERE event_date BETWEEN $1 AND $2
  AND ($3 IS NULL OR customer_id = $3)
  AND ($4 IS NULL OR meter_name = $4)
  AND ($5 IS NULL OR currency = $5)
  AND cost IS NOT NULL
GROUP BY currency, customer_id
QUALIFY row_number() OVER (PARTITION BY currency ORDER BY sum(cost) DESC, customer_id) <= $6
ORDER BY currency, cost DESC, customer
