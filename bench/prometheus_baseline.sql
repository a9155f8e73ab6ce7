-- Samples -> usage as plain DuckDB SQL over the landed files: the same job as meterhouse's
-- (bench/prometheus.py), written the fastest way a good engineer would, with the same exact
-- types. Param: the files' paths. Values are read from their text (the shortest text of the
-- float, as landed) straight into whole units of 1e-12, rounded half-even at 12 places like
-- meterhouse: DuckDB's text -> DECIMAL(38, 12) cast costs ~40 us a row (its 128-bit path), the
-- string pieces into HUGEINT below cost ~1 us. Usage is integer arithmetic on those units.
-- Stored, as the next run needs them: the events (one per series x hour, with the event id,
-- customer, meter and quantity meterhouse writes) and the last sample of every series.
CREATE TABLE meters (metric VARCHAR, meter_name VARCHAR, unit VARCHAR, kind VARCHAR,
                     divide_by HUGEINT, per_ms HUGEINT, max_gap_ms BIGINT);
INSERT INTO meters VALUES
  ('requests_total', 'requests', 'requests', 'counter', 1, 1, 300000),
  ('memory_bytes', 'memory', 'GiB-hours', 'gauge', 1073741824, 3600000, 300000);
CREATE TEMP TABLE samples AS
WITH lines AS (
  SELECT md5(to_json(map_from_entries(list_sort(map_entries(labels))))) AS series_key,
         labels['__name__'] AS metric, labels['namespace'] AS customer_id, samples
  FROM read_json(?, format = 'newline_delimited',
                 columns = {'labels': 'MAP(VARCHAR, VARCHAR)', 'samples': 'JSON[][]'})),
t AS (
  SELECT series_key, metric, customer_id, CAST(p[1] AS BIGINT) AS ts_ms,
         split_part(CAST(p[2] AS VARCHAR), 'e', 1) AS mantissa,
         coalesce(TRY_CAST(split_part(CAST(p[2] AS VARCHAR), 'e', 2) AS INTEGER), 0) AS exponent
  FROM lines, UNNEST(samples) AS u(p)),
n AS (
  SELECT series_key, metric, customer_id, ts_ms,
         CAST(replace(mantissa, '.', '') AS HUGEINT) AS digits,
         CASE WHEN strpos(mantissa, '.') > 0 THEN length(mantissa) - strpos(mantissa, '.')
              ELSE 0 END - exponent AS places
  FROM t)
SELECT series_key, metric, customer_id, ts_ms,
       CASE WHEN places <= 12 - 22
              THEN digits * CAST(10 ** 22 AS HUGEINT) * CAST(10 ** (12 - places - 22) AS HUGEINT)
            WHEN places <= 12 THEN digits * CAST(10 ** (12 - places) AS HUGEINT)
            WHEN places > 12 + 38 THEN CAST(0 AS HUGEINT)
            ELSE sign(digits) * (abs(digits) // CAST(10 ** (places - 12) AS HUGEINT) + CASE
                WHEN 2 * (abs(digits) % CAST(10 ** (places - 12) AS HUGEINT))
                       > CAST(10 ** (places - 12) AS HUGEINT)
                  OR (2 * (abs(digits) % CAST(10 ** (places - 12) AS HUGEINT))
                        = CAST(10 ** (places - 12) AS HUGEINT)
                      AND (abs(digits) // CAST(10 ** (places - 12) AS HUGEINT)) % 2 = 1)
                THEN 1 ELSE 0 END) END AS value_e12
FROM n;
CREATE TABLE events AS
WITH d AS (
  SELECT series_key, any_value(metric) AS metric, any_value(customer_id) AS customer_id,
         ts_ms, min(value_e12) AS v
  FROM samples GROUP BY series_key, ts_ms),
o AS (
  SELECT d.*, lag(ts_ms) OVER w AS prev_ts, lag(v) OVER w AS prev_v
  FROM d WINDOW w AS (PARTITION BY series_key ORDER BY ts_ms)),
pieces AS (
  SELECT series_key, (ts_ms // 3600000) * 3600000 AS interval_start,
         CASE WHEN v >= prev_v THEN v - prev_v ELSE v END AS units
  FROM o JOIN meters USING (metric)
  WHERE kind = 'counter' AND prev_ts IS NOT NULL
  UNION ALL
  SELECT series_key, k * 3600000,
         prev_v * (least(ts_ms, (k + 1) * 3600000) - greatest(prev_ts, k * 3600000))
  FROM o JOIN meters USING (metric),
       UNNEST(range(prev_ts // 3600000, (ts_ms - 1) // 3600000 + 1)) AS u(k)
  WHERE kind = 'gauge' AND prev_ts IS NOT NULL AND ts_ms - prev_ts <= max_gap_ms),
usage AS (
  SELECT series_key, interval_start, sum(units) AS units FROM pieces GROUP BY ALL),
series AS (
  SELECT series_key, any_value(metric) AS metric, any_value(customer_id) AS customer_id
  FROM samples GROUP BY series_key),
rounded AS (
  SELECT u.series_key, u.interval_start, s.customer_id, m.meter_name, m.unit,
         m.divide_by * m.per_ms AS divisor, u.units
  FROM usage u JOIN series s USING (series_key) JOIN meters m USING (metric)),
q AS (
  SELECT *, sign(units) * (abs(units) // divisor + CASE
             WHEN 2 * (abs(units) % divisor) > divisor
               OR (2 * (abs(units) % divisor) = divisor AND (abs(units) // divisor) % 2 = 1)
             THEN 1 ELSE 0 END) AS q
  FROM rounded)
SELECT 'prometheus:' || series_key || ':' || CAST(interval_start AS VARCHAR) AS event_id,
       customer_id, meter_name,
       CAST(CAST(q AS DECIMAL(38, 0)) * 0.000000000001 AS DECIMAL(38, 12)) AS quantity, unit,
       to_timestamp(interval_start / 1000.0) AS event_time,
       DATE '1970-01-01' + CAST(interval_start // 86400000 AS INTEGER) AS event_date
FROM q WHERE q <> 0;
CREATE TABLE last_samples AS
SELECT series_key, max(ts_ms) AS ts_ms, arg_max(value_e12, ts_ms) AS value_e12
FROM samples GROUP BY series_key;
