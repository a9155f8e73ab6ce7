"""The meterhouse Airflow plugin: the failure alert listener for every meterhouse DAG and the
Usage & cost page (a FastAPI app in the API server, opened from Airflow's navigation)."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from meterhouse_airflow import listener
from meterhouse_airflow.ui.app import URL_PREFIX, app

# A bar chart in Airflow's nav (an <img>: a data URI needs no route and no login of its own).
USAGE_ICON = (
    "data:image/svg+xml;utf8,"
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
    "stroke='%23017cee' stroke-width='2' stroke-linecap='round'>"
    "<path d='M4 20h16'/><path d='M7 16v-5'/><path d='M12 16V6'/><path d='M17 16v-8'/></svg>"
)

USAGE_VIEW: dict[str, Any] = {
    "name": "Usage & cost",
    # Inside the UI: with a url_route Airflow renders the page in an iframe at
    # /plugin/usage-cost (same origin, so the UI's session cookie comes along).
    "href": f"{URL_PREFIX}/usage",
    "url_route": "usage-cost",
    "destination": "nav",
    "nav_top_level": True,
    "icon": USAGE_ICON,
}


class MeterhousePlugin(AirflowPlugin):
    """Failure alerts (`meterhouse_airflow.listener`) for every DAG tagged `meterhouse`, and
    the Usage & cost page (`meterhouse_airflow.ui`) at /meterhouse/usage."""

    name = "meterhouse"
    listeners = [listener]
    fastapi_apps = [{"name": "meterhouse_usage", "app": app, "url_prefix": URL_PREFIX}]
    external_views = [USAGE_VIEW]
