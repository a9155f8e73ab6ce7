INSERT INTO rated_events
SELECT event_id, event_date, rate_status, rate_id, pricing, unit_price, base_cost, adjustment_id,
       adjustment_pct, rated_cost, currency, rate_card_version
FROM rated_partition
