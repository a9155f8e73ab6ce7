-- Cost per day and meter (the stacked bars), per currency.
-- $1..$2: the days; $3 customer, $4 meter, $5 currency: NULL for all.
SELECT event_date AS day, currency, meter_name AS meter, sum(cost) AS cost
FROM cost_daily
WHERE event_date BETWEEN $1 AND $2
  AND ($3 IS NULL OR customer_id = $3)
  AND ($4 IS NULL OR meter_name = $4)
  AND ($5 IS NULL OR currency = $5)
  AND cost IS NOT NULL
GROUP BY event_date, currency, meter_name
ORDER BY currency, day, meter
