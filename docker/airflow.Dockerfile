# The Airflow image of docker-compose.yml: the official Airflow 3.3.2 image plus meterhouse's
# pipeline (etl/, contracts/) and its pinned libraries. Not built in CI (no Docker engine
# there); the embedded stack (`make up`) runs the same DAGs and commands without Docker.
FROM apache/airflow:3.3.2-python3.11

USER root
# Named volumes take the ownership of the image folder they are mounted on.
RUN mkdir -p /opt/meterhouse/data /opt/airflow/config \
 && chown -R airflow:0 /opt/meterhouse /opt/airflow/config
USER airflow
COPY --chown=airflow:0 pyproject.toml README.md /opt/meterhouse/
COPY --chown=airflow:0 etl /opt/meterhouse/etl
COPY --chown=airflow:0 contracts /opt/meterhouse/contracts
# the Airflow glue is a package of the distribution too (DAG files import it); compose also
# mounts ./plugins as the plugins folder, whose meterhouse_plugin.py registers the plugin
COPY --chown=airflow:0 plugins /opt/meterhouse/plugins
COPY --chown=airflow:0 scripts /opt/meterhouse/scripts
# Keep the image's Airflow: install meterhouse and its runtime pins next to it.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" "/opt/meterhouse"
