-- The scale cost_daily sums billed_cost with (12 in warehouses older than exact FOCUS money;
-- no row while the rollup tables do not exist).
SELECT numeric_scale FROM information_schema.columns
WHERE table_name = 'cost_daily' AND column_name = 'billed_cost' AND table_schema = 'main'
