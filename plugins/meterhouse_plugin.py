"""Entry point of the plugins folder: Airflow imports each top-level .py file here and
registers the AirflowPlugin subclasses it finds. The package itself is hidden from that scan
by .airflowignore (its modules would otherwise be imported a second time, by file name)."""

from __future__ import annotations

from meterhouse_airflow.plugin import MeterhousePlugin

__all__ = ["MeterhousePlugin"]
