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
    updated_at   TIMESTAMPTZ NOT NULL
);
-- Every sample of a mapped series, once per (series_key, ts_ms): the first copy loaded wins.
CREATE TABLE IF NOT EXISTS prometheus_samples (
    series_key   VARCHAR NOT NULL,
    ts_ms        BIGINT NOT NULL,
    value        DOUBLE NOT NULL,
    source_uri   VARCHAR NOT NULL,
    ingested_at  TIMESTAMPTZ NOT NULL
);
-- Samples of metrics the mapping does not name, counted per landed object and metric.
CREATE TABLE IF NOT EXISTS prometheus_unmapped (
    source_uri   VARCHAR NOT NULL,
    metric       VARCHAR NOT NULL,
    samples      BIGINT NOT NULL,
    counted_at   TIMESTAMPTZ NOT NULL
);
