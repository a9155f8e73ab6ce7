"""Airflow glue of meterhouse: config, S3 from the Airflow connection, task callables, alerts.

DAG files (dags/) import it; Airflow loads `MeterhousePlugin` through plugins/meterhouse_plugin.py.
It is also a package of the meterhouse distribution, so `import meterhouse_airflow` works in
tests and tools without the plugins folder on sys.path.
"""
