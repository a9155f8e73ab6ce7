-- What one file loaded, per BillingCurrency (param: source_uri).
SELECT "BillingCurrency", count(*), coalesce(sum("BilledCost"), 0), coalesce(sum("EffectiveCost"), 0)
FROM focus_line_items
WHERE source_uri = ?
GROUP BY "BillingCurrency"
