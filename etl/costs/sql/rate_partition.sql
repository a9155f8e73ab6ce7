-- Rate one partition into the temp table rated_partition: the events of one meter and month
-- (all of the month when $whole_month, else the rebuilt days), of one bucket of customers.
-- Tiers accumulate per customer, rule and period (a day or a month), so a partition holds
-- every event its tiers need. Only rows of rebuilt days are kept. Money: rating_macros.sql.
CREATE OR REPLACE TEMP TABLE rated_partition AS
WITH events AS (
  SELECT event_id, customer_id, meter_name, quantity, unit, event_time, event_date, dimensions,
         billed_cost, effective_cost, currency AS event_currency,
         billed_cost IS NOT NULL OR effective_cost IS NOT NULL AS sourced,
         event_date IN (SELECT day FROM rollup_days) AS rebuilt
  FROM meter_events
  WHERE meter_name = $meter AND event_date >= $month AND event_date < $next_month
    AND ($whole_month OR event_date IN (SELECT day FROM rollup_days))
    AND hash(customer_id) % $buckets = $bucket),
card AS (
  SELECT (SELECT rules FROM rating_rules WHERE meter_name = $meter) AS rules,
         (SELECT list_filter(adjustments, lambda adj: adj.meter_name IS NULL OR adj.meter_name = $meter)
          FROM rating_adjustments) AS adjustments),
matched AS MATERIALIZED (
  SELECT e.*, c.adjustments,
         CASE WHEN NOT e.sourced THEN list_filter(c.rules, lambda rule_:
           rule_.effective_from <= e.event_date
           AND (rule_.effective_to IS NULL OR e.event_date < rule_.effective_to)
           AND len(list_filter(rule_.match, lambda pair:
                 e.dimensions[pair.key] IS DISTINCT FROM pair.value)) = 0)[1] END AS rule
  FROM events e CROSS JOIN card c),
adjusted AS MATERIALIZED (
  SELECT m.* EXCLUDE (adjustments),
         CASE WHEN m.rule IS NOT NULL THEN list_filter(m.adjustments, lambda adj:
           (adj.customer_id IS NULL OR adj.customer_id = m.customer_id)
           AND (adj.team IS NULL OR adj.team = m.dimensions['team'])
           AND adj.effective_from <= m.event_date
           AND (adj.effective_to IS NULL OR m.event_date < adj.effective_to))[1] END AS adjustment,
         rating_units(m.quantity) AS quantity_units,
         CASE WHEN m.rule.tier_period = 'month' THEN date_trunc('month', m.event_date)::DATE
              ELSE m.event_date END AS period
  FROM matched m),
accumulated AS (
  SELECT *,
         sum(quantity_units) OVER (PARTITION BY customer_id, rule.rate_id, period
                                   ORDER BY event_time, event_id
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS after_units,
         sum(quantity_units) OVER (PARTITION BY customer_id, rule.rate_id, period) AS total_units
  FROM adjusted WHERE rule.pricing <> 'flat'
  UNION ALL BY NAME
  SELECT *, NULL::HUGEINT AS after_units, NULL::HUGEINT AS total_units
  FROM adjusted WHERE rule IS NULL OR rule.pricing = 'flat'),
priced AS (
  SELECT *,
         CASE rule.pricing
           WHEN 'flat' THEN rule.tiers[1].unit_price
           WHEN 'volume' THEN coalesce(
             list_filter(rule.tiers, lambda t: t.from_units <= total_units)[-1].unit_price,
             rule.tiers[1].unit_price) END AS unit_price
  FROM accumulated WHERE rebuilt),
-- Graduated: each tier's share of [after - quantity, after); flat and volume: |quantity| x price.
terms AS (
  SELECT *,
         CASE WHEN rule.pricing = 'graduated' THEN 1 ELSE sign(quantity_units) END AS cost_sign,
         CASE WHEN rule.pricing = 'graduated' THEN list_transform(rule.tiers, lambda t:
                {'units': greatest(0, least(after_units, coalesce(t.to_units, after_units))
                                      - greatest(after_units - quantity_units, t.from_units)),
                 'price_units': t.price_units})
              WHEN rule IS NOT NULL THEN [{'units': abs(quantity_units),
                                           'price_units': rating_units(unit_price)}] END AS parts
  FROM priced),
sums AS (
  SELECT *,
         list_sum(list_transform(parts, lambda p: rating_mul_hi(p.units, p.price_units))) AS hi,
         list_sum(list_transform(parts, lambda p: rating_mul_lo(p.units, p.price_units))) AS lo
  FROM terms),
-- The exact |base| is whole + rest / 1e12 units (0 <= rest < 1e12); with an adjustment it is
-- multiplied by factor_units / 1e14 (factor = (100 + pct) / 100), split at 1e14 units so that
-- no product leaves HUGEINT: |adjusted| = adj_whole + adj_rest / 1e26 units.
normalized AS (
  SELECT *, hi + lo // 1000000000000 AS whole, lo % 1000000000000 AS rest,
         rating_units(100 + adjustment.adjustment_pct) AS factor_units
  FROM sums),
split AS (
  SELECT *, whole // 100000000000000 AS whole_high, whole % 100000000000000 AS whole_low
  FROM normalized),
products AS (
  SELECT *, whole_low * factor_units AS low_product FROM split),
adjusted_parts AS (
  SELECT *,
         whole_high * factor_units + low_product // 100000000000000 AS adj_whole,
         (low_product % 100000000000000) * 1000000000000 + rest * factor_units AS adj_rest
  FROM products),
rounded AS (
  SELECT *,
         cost_sign * rating_half_even(whole, rest, 1000000000000) AS base_units,
         cost_sign * rating_half_even(
           adj_whole + adj_rest // 100000000000000000000000000::HUGEINT,
           adj_rest % 100000000000000000000000000::HUGEINT,
           100000000000000000000000000::HUGEINT) AS adjusted_units
  FROM adjusted_parts)
SELECT event_id, event_date, customer_id, meter_name, quantity, unit, dimensions, billed_cost,
       effective_cost, event_currency,
       CASE WHEN sourced THEN 'source_cost' WHEN rule IS NULL THEN 'unrated' ELSE 'rated' END
         AS rate_status,
       rule.rate_id AS rate_id, rule.pricing AS pricing, unit_price,
       rating_money(base_units) AS base_cost,
       adjustment.adjustment_id AS adjustment_id, adjustment.adjustment_pct AS adjustment_pct,
       rating_money(CASE WHEN adjustment IS NULL THEN base_units ELSE adjusted_units END)
         AS rated_cost,
       CASE WHEN sourced THEN event_currency ELSE rule.currency END AS currency,
       CASE WHEN rule IS NOT NULL THEN $version END AS rate_card_version
FROM rounded
