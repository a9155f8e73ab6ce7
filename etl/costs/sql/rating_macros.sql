-- Exact money math for rating, in integers of 1e-12 (HUGEINT "units"): a DECIMAL(38, 12)
-- product has 24 places, and DuckDB's ROUND on DECIMAL rounds half away from zero, so costs are
-- computed as integers and rounded half-even here, as Python's decimal does (etl.costs.tiers).
-- Every operation is exact or raises DuckDB's overflow error; none falls back to DOUBLE.
-- Arguments of the _mul macros are >= 0 (rating applies the sign afterwards). rate_partition.sql
-- spells the rounding steps out as columns: nested macros would repeat their arguments.
CREATE OR REPLACE TEMP MACRO rating_units(d) AS
  trunc(d)::HUGEINT * 1000000000000 + ((d - trunc(d)) * 1000000000000)::HUGEINT;
CREATE OR REPLACE TEMP MACRO rating_money(u) AS
  u::DECIMAL(38, 0) * 0.000000000001::DECIMAL(38, 12);
-- s x p (both in units) is (hi + lo / 1e12) units: hi whole units, 0 <= lo < 1e12.
CREATE OR REPLACE TEMP MACRO rating_mul_hi(s, p) AS
  (s // 1000000000000) * p + ((s % 1000000000000) * p) // 1000000000000;
CREATE OR REPLACE TEMP MACRO rating_mul_lo(s, p) AS
  ((s % 1000000000000) * p) % 1000000000000;
-- q + 1 when the remainder r of a division by d is above half, or exactly half and q is odd.
CREATE OR REPLACE TEMP MACRO rating_half_even(q, r, d) AS
  q + CASE WHEN r * 2 > d OR (r * 2 = d AND q % 2 = 1) THEN 1 ELSE 0 END;
