-- The scale meter_events stores billed_cost with (12 in warehouses older than exact FOCUS money).
SELECT numeric_scale FROM information_schema.columns
WHERE table_name = 'meter_events' AND column_name = 'billed_cost' AND table_schema = 'main'
