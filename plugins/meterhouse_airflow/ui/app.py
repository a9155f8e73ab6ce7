"""The plugin's FastAPI app: GET /usage (the page; `/` redirects to it), every route behind
Airflow's login (`auth.require_user`, an app-wide dependency). Mounted by the API server at
`URL_PREFIX` (MeterhousePlugin.fastapi_apps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from meterhouse_airflow.ui.auth import require_user
from meterhouse_airflow.ui.page import render_page, render_problem

URL_PREFIX = "/meterhouse"
PAGE = "usage"
# Pages change with every load: never from a cache, never the previous user's.
NO_STORE = {"Cache-Control": "no-store"}


def create_app() -> FastAPI:
    """The app; no OpenAPI or docs routes (they would sit outside the login)."""
    app = FastAPI(
        title="meterhouse Usage & cost",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(require_user)],
    )
    app.add_exception_handler(HTTPException, _problem)  # type: ignore[arg-type]

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse(PAGE)

    @app.get(f"/{PAGE}", response_class=HTMLResponse)
    def usage(
        start: str | None = None,
        end: str | None = None,
        customer: str | None = None,
        meter: str | None = None,
        currency: str | None = None,
    ) -> HTMLResponse:
        """The Usage & cost page for the filters in the query string (the page's form)."""
        # etl pulls in DuckDB and polars: imported when a page is asked for, not when every
        # Airflow component loads the plugin.
        from etl.errors import MeterhouseError
        from etl.jobs.usage_report import ReportError, ReportFilters, usage_report

        try:
            filters = ReportFilters.parse(
                today=datetime.now(UTC).date(),
                start=start,
                end=end,
                customer=customer,
                meter=meter,
                currency=currency,
            )
        except ReportError as exc:
            return HTMLResponse(render_problem(400, str(exc)), 400, headers=NO_STORE)
        try:
            report = usage_report(filters)
        except MeterhouseError as exc:
            message = f"the lake cannot be read: {exc}"
            return HTMLResponse(render_problem(503, message), 503, headers=NO_STORE)
        return HTMLResponse(render_page(report), headers=NO_STORE)

    return app


async def _problem(request: Request, exc: HTTPException) -> Response:
    """A browser gets a small page saying to sign in; API clients get Airflow's JSON."""
    headers: dict[str, Any] = {**(exc.headers or {}), **NO_STORE}
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(
            render_problem(exc.status_code, str(exc.detail)), exc.status_code, headers=headers
        )
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)


app = create_app()
