-- Rows of a load's working tables (etl/warehouse/prometheus.py).
SELECT count(*) FROM prom_in;
SELECT count(*) FROM prom_new;
SELECT count(*) FROM prom_span;
