"""The meterhouse Airflow plugin: registers the failure alert listener for every meterhouse DAG."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from meterhouse_airflow import listener


class MeterhousePlugin(AirflowPlugin):
    """Failure alerts (`meterhouse_airflow.listener`) for every DAG tagged `meterhouse`."""

    name = "meterhouse"
    listeners = [listener]
