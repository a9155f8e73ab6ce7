-- Prometheus remote write (etl/warehouse/prometheus.py).
-- One row per series of a mapped metric: its labels and what the mapping made of it.
CREATE TABLE IF NOT EXISTS prometheus_series (
    series_key   VARCHAR PRIMARY KEY,
    metric       VARCHAR NOT NULL,
    labels       VARCHAR NOT NULL,
    metric_type  VARCHAR,
    meter_name   VARCHAR NOT NULL,
    unit         VARCHAR,
    kind         VARCHAR NOT NULL,
    customer_id  VARCHAR NOT NULL,
    dimensions   MAP(VARCHAR, VARCHAR) NOT NULL,
    interval_ms  BIGINT NOT NULL,
    max_gap_ms   BIGINT NOT NULL,
    divide_by    BIGINT NOT NULL,
    per_ms       BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    -- the series' number, given once when it is first stored: its samples carry it
    series_id    BIGINT
);
-- (A warehouse from before series were numbered gets the column; prometheus_upgrade.sql
-- numbers them.)
ALTER TABLE prometheus_series ADD COLUMN IF NOT EXISTS series_id BIGINT;
-- Every sample of a mapped series, once per (series_id, ts_ms): the first copy loaded wins.
-- Numbers only (the series' and the object's), so that storing ten million costs little;
-- prometheus_samples shows them with the series key and the object's URI.
CREATE TABLE IF NOT EXISTS prometheus_points (
    series_id    BIGINT NOT NULL,
    ts_ms        BIGINT NOT NULL,
    -- the value in units of 1e-12: the decimal of its shortest text (Python's repr),
    -- rounded half-even to 12 places; what usage is computed from, exactly
    value_e12    HUGEINT NOT NULL,
    object_id    BIGINT NOT NULL
);
-- The landed objects samples were stored from, by number, and when each was first loaded.
CREATE TABLE IF NOT EXISTS prometheus_objects (
    source_uri   VARCHAR PRIMARY KEY,
    object_id    BIGINT NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL
);
-- Samples of metrics the mapping does not name, counted per landed object and metric.
CREATE TABLE IF NOT EXISTS prometheus_unmapped (
    source_uri   VARCHAR NOT NULL,
    metric       VARCHAR NOT NULL,
    samples      BIGINT NOT NULL,
    counted_at   TIMESTAMPTZ NOT NULL
);
-- Exact usage per series x interval: in units of 1e-12 (counters) or 1e-12 x ms (gauges),
-- with the divisor that turns it into the meter's unit (the event rounds it once).
CREATE TABLE IF NOT EXISTS prometheus_usage (
    series_key     VARCHAR NOT NULL,
    interval_start BIGINT NOT NULL,
    units          HUGEINT NOT NULL,
    divisor        HUGEINT NOT NULL,
    PRIMARY KEY (series_key, interval_start)
);
-- The latest stored sample of every series (its ts_ms is the series' highest in
-- prometheus_samples): a load whose samples all come after it (what a scraping sender sends)
-- needs no look at the stored samples, neither to deduplicate nor for its first pair.
CREATE TABLE IF NOT EXISTS prometheus_last (
    series_key   VARCHAR PRIMARY KEY,
    ts_ms        BIGINT NOT NULL,
    value_e12    HUGEINT NOT NULL
);
