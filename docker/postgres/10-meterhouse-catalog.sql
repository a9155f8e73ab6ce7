-- docker-compose.production.yml: the DuckLake catalog beside Airflow's metadata database, on the
-- same Postgres. The image runs this once, when it initializes an empty data volume.
CREATE DATABASE meterhouse OWNER airflow;
