-- The values the page's filters offer: customers, meters and currencies of the cost rollups.
SELECT 'customer' AS kind, customer_id AS value FROM cost_daily GROUP BY customer_id
UNION ALL
SELECT 'meter' AS kind, meter_name AS value FROM cost_daily GROUP BY meter_name
UNION ALL
SELECT 'currency' AS kind, currency AS value FROM cost_daily WHERE currency IS NOT NULL GROUP BY currency
ORDER BY kind, value
