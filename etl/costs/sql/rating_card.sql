-- The current card in the shapes rating reads (temp tables, rebuilt per rollup):
-- rating_rule_rows: one row per rule, ranked per meter in the order rules win (most match pairs
--   first, then the one listed first); rating_rules: per meter, the ranked rules' windows and
--   match pairs, for the first-match lambda; rating_tiers: per rule, its tiers with the exact
--   cost of every tier below (below_whole + below_rest / 1e12 units), so a graduated position
--   costs below + (position - from) x price; rating_adjustments: every adjustment in the order
--   they win (most scopes first, then the one listed first).
CREATE OR REPLACE TEMP TABLE rating_rule_rows AS
WITH rules AS (
  SELECT rate_id, any_value(meter_name) AS meter_name, any_value(pricing) AS pricing,
         any_value(tier_period) AS tier_period, any_value(currency) AS currency,
         any_value(effective_from) AS effective_from, any_value(effective_to) AS effective_to,
         any_value(map_entries(dimension_match)) AS match, min(priority) AS priority
  FROM rate_card GROUP BY rate_id)
SELECT *, row_number() OVER (PARTITION BY meter_name ORDER BY len(match) DESC, priority) AS rule_rank
FROM rules;
CREATE OR REPLACE TEMP TABLE rating_rules AS
SELECT meter_name,
       list({'effective_from': effective_from, 'effective_to': effective_to, 'match': match}
            ORDER BY rule_rank) AS rules
FROM rating_rule_rows GROUP BY meter_name;
CREATE OR REPLACE TEMP TABLE rating_tiers AS
WITH tiers AS (
  SELECT rate_id, tier_from, unit_price, rating_units(tier_from) AS from_units,
         rating_units(lead(tier_from) OVER (PARTITION BY rate_id ORDER BY tier_from)) AS to_units,
         rating_units(unit_price) AS price_units
  FROM rate_card),
below AS (
  SELECT *,
         coalesce(sum(rating_mul_hi(to_units - from_units, price_units)) OVER lower_tiers, 0) AS hi,
         coalesce(sum(rating_mul_lo(to_units - from_units, price_units)) OVER lower_tiers, 0) AS lo
  FROM tiers
  WINDOW lower_tiers AS (PARTITION BY rate_id ORDER BY tier_from
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
SELECT rate_id, from_units, to_units, unit_price, price_units,
       hi + lo // 1000000000000 AS below_whole, lo % 1000000000000 AS below_rest
FROM below;
CREATE OR REPLACE TEMP TABLE rating_adjustments AS
SELECT list({'adjustment_id': adjustment_id, 'customer_id': customer_id, 'team': team,
             'meter_name': meter_name, 'adjustment_pct': adjustment_pct,
             'effective_from': effective_from, 'effective_to': effective_to}
            ORDER BY (customer_id IS NOT NULL)::INT + (team IS NOT NULL)::INT
                     + (meter_name IS NOT NULL)::INT DESC, priority) AS adjustments
FROM rate_adjustments;
