-- The current card as lists rating reads per event: per meter, its rules in the order they win
-- (most match pairs first, then the one listed first), each with its tiers ascending; and every
-- adjustment in the order they win (most scopes first, then the one listed first).
CREATE OR REPLACE TEMP TABLE rating_rules AS
WITH tiers AS (
  SELECT *, lead(tier_from) OVER (PARTITION BY rate_id ORDER BY tier_from) AS tier_to
  FROM rate_card),
rules AS (
  SELECT rate_id, any_value(meter_name) AS meter_name, any_value(pricing) AS pricing,
         any_value(tier_period) AS tier_period, any_value(currency) AS currency,
         any_value(effective_from) AS effective_from, any_value(effective_to) AS effective_to,
         any_value(map_entries(dimension_match)) AS match, min(priority) AS priority,
         list({'from_units': rating_units(tier_from), 'to_units': rating_units(tier_to),
               'unit_price': unit_price, 'price_units': rating_units(unit_price)}
              ORDER BY tier_from) AS tiers
  FROM tiers GROUP BY rate_id)
SELECT meter_name,
       list({'rate_id': rate_id, 'pricing': pricing, 'tier_period': tier_period,
             'currency': currency, 'effective_from': effective_from,
             'effective_to': effective_to, 'match': match, 'tiers': tiers}
            ORDER BY len(match) DESC, priority) AS rules
FROM rules GROUP BY meter_name;
CREATE OR REPLACE TEMP TABLE rating_adjustments AS
SELECT list({'adjustment_id': adjustment_id, 'customer_id': customer_id, 'team': team,
             'meter_name': meter_name, 'adjustment_pct': adjustment_pct,
             'effective_from': effective_from, 'effective_to': effective_to}
            ORDER BY (customer_id IS NOT NULL)::INT + (team IS NOT NULL)::INT
                     + (meter_name IS NOT NULL)::INT DESC, priority) AS adjustments
FROM rate_adjustments;
