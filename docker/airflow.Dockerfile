# The Airflow image of docker-compose.yml: the official Airflow 3.3.2 image plus meterhouse's
# pipeline (etl/, contracts/) and exactly the libraries of uv.lock. Not built in CI (no Docker
# engine there); the embedded stack (`make up`) runs the same DAGs and commands without Docker.
# The base image's Airflow and Python must match the lock: apache-airflow==3.3.2 in uv.lock,
# requires-python ">=3.11,<3.12" in pyproject.toml (tests/unit/test_compose.py checks both).
FROM apache/airflow:3.3.2-python3.11

USER root
# Named volumes take the ownership of the image folder they are mounted on; airflow-init then
# hands them to ${AIRFLOW_UID}:0 for host UIDs other than 50000.
RUN mkdir -p /opt/meterhouse/data /opt/airflow/config \
 && chown -R airflow:0 /opt/meterhouse /opt/airflow/config
USER airflow

# uv from PyPI, the version the lock was written with; it only turns uv.lock into pinned,
# hashed requirements (runtime dependencies only: no dev group, not the project itself).
RUN pip install --no-cache-dir "uv==0.13.9"
COPY --chown=airflow:0 pyproject.toml uv.lock README.md /opt/meterhouse/
RUN cd /opt/meterhouse \
 && uv export --frozen --no-dev --no-emit-project --output-file /tmp/requirements.txt \
 && pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY --chown=airflow:0 etl /opt/meterhouse/etl
COPY --chown=airflow:0 contracts /opt/meterhouse/contracts
# the Airflow glue is a package of the distribution too (DAG files import it); compose also
# mounts ./plugins as the plugins folder, whose meterhouse_plugin.py registers the plugin
COPY --chown=airflow:0 plugins /opt/meterhouse/plugins
COPY --chown=airflow:0 scripts /opt/meterhouse/scripts
# The project itself, without resolving anything: every dependency came from the lock above.
RUN pip install --no-cache-dir --no-deps /opt/meterhouse
