-- Month to date against the same days of the previous month, per currency.
-- $1..$2: this month's days; $3 customer, $4 meter, $5 currency: NULL for all;
-- $6..$7: the previous month's same window.
SELECT currency,
       sum(cost) FILTER (WHERE event_date BETWEEN $1 AND $2) AS this_period,
       sum(cost) FILTER (WHERE event_date BETWEEN $6 AND $7) AS previous_period
FROM cost_daily
WHERE (event_date BETWEEN $1 AND $2 OR event_date BETWEEN $6 AND $7)
  AND ($3 IS NULL OR customer_id = $3)
  AND ($4 IS NULL OR meter_name = $4)
  AND ($5 IS NULL OR currency = $5)
  AND cost IS NOT NULL
GROUP BY currency
ORDER BY currency
