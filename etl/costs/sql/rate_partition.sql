-- Rate one partition into the temp table rated_partition: the events of one meter and month
-- (all of the month when $whole_month, else the rebuilt days), of one bucket of customers.
-- Tiers accumulate per customer, rule and period (a day or a month), so a partition holds
-- every event its tiers need. Only rows of rebuilt days are kept. Money: rating_macros.sql;
-- the card's shapes: rating_card.sql.
CREATE OR REPLACE TEMP TABLE rated_partition AS
WITH card AS (
  SELECT (SELECT rules FROM rating_rules WHERE meter_name = $meter) AS rules,
         (SELECT list_filter(adjustments, lambda adj: adj.meter_name IS NULL OR adj.meter_name = $meter)
          FROM rating_adjustments) AS adjustments),
events AS (
  SELECT event_id, customer_id, meter_name, quantity, unit, event_time, event_date, dimensions,
         billed_cost, effective_cost, currency AS event_currency,
         billed_cost IS NOT NULL OR effective_cost IS NOT NULL AS sourced,
         event_date IN (SELECT day FROM rollup_days) AS rebuilt
  FROM meter_events
  WHERE meter_name = $meter AND event_date >= $month AND event_date < $next_month
    AND ($whole_month OR event_date IN (SELECT day FROM rollup_days))
    AND hash(customer_id) % $buckets = $bucket),
-- The first rule (in winning order) in effect on the event's date whose pairs all match, and
-- the first adjustment that applies.
matched AS MATERIALIZED (
  SELECT e.*,
         CASE WHEN NOT e.sourced THEN list_position(list_transform(c.rules, lambda rule_:
           rule_.effective_from <= e.event_date
           AND (rule_.effective_to IS NULL OR e.event_date < rule_.effective_to)
           AND len(list_filter(rule_.match, lambda pair:
                 e.dimensions[pair.key] IS DISTINCT FROM pair.value)) = 0), true) END AS rule_rank,
         list_filter(c.adjustments, lambda adj:
           (adj.customer_id IS NULL OR adj.customer_id = e.customer_id)
           AND (adj.team IS NULL OR adj.team = e.dimensions['team'])
           AND adj.effective_from <= e.event_date
           AND (adj.effective_to IS NULL OR e.event_date < adj.effective_to))[1] AS adjustment
  FROM events e CROSS JOIN card c),
ruled AS MATERIALIZED (
  SELECT m.* EXCLUDE (rule_rank, adjustment), r.rate_id, r.pricing, r.currency AS rule_currency,
         CASE WHEN r.rate_id IS NOT NULL THEN m.adjustment.adjustment_id END AS adjustment_id,
         CASE WHEN r.rate_id IS NOT NULL THEN m.adjustment.adjustment_pct END AS adjustment_pct,
         rating_units(m.quantity) AS quantity_units,
         CASE WHEN r.tier_period = 'month' THEN date_trunc('month', m.event_date)::DATE
              ELSE m.event_date END AS period
  FROM matched m
  LEFT JOIN (SELECT * FROM rating_rule_rows WHERE meter_name = $meter) r
    ON r.rule_rank = m.rule_rank),
-- Tier positions: graduated events cover [after - quantity, after) of their customer's
-- period in event-time order; volume events are priced at their period's total.
accumulated AS (
  SELECT *,
         sum(quantity_units) OVER (PARTITION BY customer_id, rate_id, period
                                   ORDER BY event_time, event_id
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS after_units,
         sum(quantity_units) OVER (PARTITION BY customer_id, rate_id, period) AS total_units
  FROM ruled WHERE pricing IN ('graduated', 'volume')
  UNION ALL BY NAME
  SELECT *, NULL::HUGEINT AS after_units, NULL::HUGEINT AS total_units
  FROM ruled WHERE pricing IS NULL OR pricing = 'flat'),
positioned AS (
  SELECT *,
         CASE pricing WHEN 'flat' THEN 0 WHEN 'volume' THEN greatest(total_units, 0) END AS price_at,
         CASE WHEN pricing = 'graduated' THEN greatest(after_units, 0) END AS upper_at,
         CASE WHEN pricing = 'graduated' THEN greatest(after_units - quantity_units, 0) END AS lower_at
  FROM accumulated WHERE rebuilt),
tiered AS (
  SELECT p.*, pt.unit_price AS tier_price, pt.price_units AS tier_price_units,
         up.below_whole + rating_mul_hi(p.upper_at - up.from_units, up.price_units) AS upper_hi,
         up.below_rest + rating_mul_lo(p.upper_at - up.from_units, up.price_units) AS upper_lo,
         lo.below_whole + rating_mul_hi(p.lower_at - lo.from_units, lo.price_units) AS lower_hi,
         lo.below_rest + rating_mul_lo(p.lower_at - lo.from_units, lo.price_units) AS lower_lo
  FROM positioned p
  LEFT JOIN rating_tiers pt ON pt.rate_id = p.rate_id AND pt.from_units <= p.price_at
    AND (pt.to_units IS NULL OR p.price_at < pt.to_units)
  LEFT JOIN rating_tiers up ON up.rate_id = p.rate_id AND up.from_units <= p.upper_at
    AND (up.to_units IS NULL OR p.upper_at < up.to_units)
  LEFT JOIN rating_tiers lo ON lo.rate_id = p.rate_id AND lo.from_units <= p.lower_at
    AND (lo.to_units IS NULL OR p.lower_at < lo.to_units)),
-- The exact |base| as whole + rest / 1e12 units (0 <= rest < 1e12). Graduated: the ladder's
-- cost up to the upper position minus up to the lower one (nothing for quantity <= 0, as
-- every tier's share is then empty); flat and volume: |quantity| x the tier's price.
ladder AS (
  SELECT *,
         upper_hi + upper_lo // 1000000000000 - lower_hi - lower_lo // 1000000000000 AS ladder_whole,
         upper_lo % 1000000000000 - lower_lo % 1000000000000 AS ladder_rest
  FROM tiered),
base AS (
  SELECT *,
         CASE WHEN pricing = 'graduated' THEN 1 ELSE sign(quantity_units) END AS cost_sign,
         CASE WHEN pricing = 'graduated' THEN
                CASE WHEN quantity_units <= 0 THEN 0
                     ELSE ladder_whole - CASE WHEN ladder_rest < 0 THEN 1 ELSE 0 END END
              ELSE rating_mul_hi(abs(quantity_units), tier_price_units) END AS whole,
         CASE WHEN pricing = 'graduated' THEN
                CASE WHEN quantity_units <= 0 THEN 0
                     ELSE ladder_rest + CASE WHEN ladder_rest < 0 THEN 1000000000000 ELSE 0 END END
              ELSE rating_mul_lo(abs(quantity_units), tier_price_units) END AS rest,
         rating_units(100 + adjustment_pct) AS factor_units
  FROM ladder),
-- With an adjustment, |base| x factor_units / 1e14 (factor = (100 + pct) / 100), split at
-- 1e14 units so that no product leaves HUGEINT: adj_whole + adj_rest / 1e26 units.
split AS (
  SELECT *, whole // 100000000000000 AS whole_high,
         (whole % 100000000000000) * factor_units AS low_product
  FROM base),
adjusted AS (
  SELECT *,
         whole_high * factor_units + low_product // 100000000000000 AS adj_whole,
         (low_product % 100000000000000) * 1000000000000 + rest * factor_units AS adj_rest
  FROM split),
rounded AS (
  SELECT *,
         cost_sign * rating_half_even(whole, rest, 1000000000000) AS base_units,
         cost_sign * rating_half_even(
           adj_whole + adj_rest // 100000000000000000000000000::HUGEINT,
           adj_rest % 100000000000000000000000000::HUGEINT,
           100000000000000000000000000::HUGEINT) AS adjusted_units
  FROM adjusted)
SELECT event_id, event_date, customer_id, meter_name, quantity, unit, dimensions, billed_cost,
       effective_cost, event_currency,
       CASE WHEN sourced THEN 'source_cost' WHEN rate_id IS NULL THEN 'unrated' ELSE 'rated' END
         AS rate_status,
       rate_id, pricing,
       CASE WHEN pricing IN ('flat', 'volume') THEN tier_price END AS unit_price,
       rating_money(base_units) AS base_cost, adjustment_id, adjustment_pct,
       rating_money(CASE WHEN adjustment_pct IS NULL THEN base_units ELSE adjusted_units END)
         AS rated_cost,
       CASE WHEN sourced THEN event_currency ELSE rule_currency END AS currency,
       CASE WHEN rate_id IS NOT NULL THEN $version END AS rate_card_version
FROM rounded
