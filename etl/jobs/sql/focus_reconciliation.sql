-- FOCUS reconciliation per file and currency, newest files first.
SELECT source_uri, currency, source_rows, source_billed_cost, rejected_rows, rejected_billed_cost,
       loaded_rows, loaded_billed_cost, source_effective_cost, rejected_effective_cost,
       loaded_effective_cost
FROM focus_reconciliation
ORDER BY reconciled_at DESC, source_uri, currency
LIMIT $1
