"""Costs: rate cards, rating, cost rollups and their reconciliation (docs/rating.md).

Modules: `rate_cards` (parse and validate a card; which dates a new card reprices), `tiers`
(money places; graduated and volume math in Decimal, the reference the tests hold the SQL to),
`rating` (meter events -> rated events, in DuckDB SQL per meter x month partition),
`rate_card_store` (the card in the warehouse), `days` (which days to rebuild), `rollups`
(rebuild days: rated events, `cost_daily`, `cost_monthly`), `reconcile`, `schema` (the tables
and views), `publish` (the lake files of the rollup tables). Writes run in
`etl.warehouse.transaction()`.
Static SQL lives in `sql/` (`sqlfiles` reads it). Callers outside etl use `etl.jobs.rollup`.
"""
