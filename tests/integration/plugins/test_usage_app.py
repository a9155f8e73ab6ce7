"""The Usage & cost page inside Airflow's own API server app (`create_app`, the plugin loaded
from the plugins folder as in production): the mount and the nav entry, Airflow's login in
front of every route, and the page over a tiny lake."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.integration.usage_lake import build_usage_lake

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_usage_lake(tmp_path_factory.mktemp("usage-app"))


@pytest.fixture(scope="module")
def airflow_app(airflow_db: None) -> Any:
    from airflow.api_fastapi.app import create_app

    return create_app("core")


@pytest.fixture
def client(airflow_app: Any, lake: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("METERHOUSE_WAREHOUSE", str(lake.warehouse_path))
    monkeypatch.setenv("METERHOUSE_LAKE", str(lake.lake_path))
    with TestClient(airflow_app) as c:
        yield c


def _token(**claims: Any) -> str:
    """A JWT the API server's auth manager issued for admin (claims overridden and re-signed
    with Airflow's own secret, e.g. an expired one)."""
    import jwt
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.configuration import conf

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="ADMIN"))
    if not claims:
        return token
    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    return jwt.encode(payload, conf.get("api_auth", "jwt_secret"), algorithm=header["alg"])


def _forged() -> str:
    """admin's claims, signed with a key that is not the API server's."""
    import jwt

    real = _token()
    header = jwt.get_unverified_header(real)
    payload = jwt.decode(real, options={"verify_signature": False})
    return jwt.encode(payload, "not-the-airflow-secret-" + "x" * 48, algorithm=header["alg"])


def test_the_plugin_mounts_the_app_and_puts_the_page_in_the_nav(client: Any) -> None:
    plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {_token()}"}).json()[
        "plugins"
    ]
    (ours,) = [p for p in plugins if p["name"] == "meterhouse"]
    assert ours["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/meterhouse", "name": "meterhouse_usage"}
    ]  # fmt: skip
    (view,) = ours["external_views"]
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == (
        "Usage & cost", "/meterhouse/usage", "nav", "usage-cost",
    )  # fmt: skip
    assert view["nav_top_level"] is True
    assert view["icon"].startswith("data:image/svg+xml")


@pytest.mark.parametrize("path", ["/meterhouse/usage", "/meterhouse/", "/meterhouse/usage?end=x"])
def test_every_route_needs_a_valid_airflow_login(client: Any, path: str) -> None:
    def status(headers: dict[str, str] | None = None, token_cookie: str | None = None) -> int:
        client.cookies.clear()
        if token_cookie is not None:
            client.cookies.set("_token", token_cookie)
        return int(client.get(path, headers=headers or {}, follow_redirects=False).status_code)

    assert status() == 401
    assert status({"Authorization": f"Bearer {_forged()}"}) == 401
    assert status(token_cookie=_forged()) == 401
    assert status({"Authorization": "Bearer not.a.jwt"}) == 401
    assert status({"Authorization": f"Bearer {_token(exp=int(time.time()) - 60)}"}) == 401
    assert status({"Authorization": f"Basic {'YWRtaW46YWRtaW4='}"}) == 401  # admin:admin
    ok = {"/meterhouse/": 307, "/meterhouse/usage?end=x": 400}.get(path, 200)
    assert status({"Authorization": f"Bearer {_token()}"}) == ok
    assert status(token_cookie=_token()) == ok  # the UI's session cookie


def test_a_browser_without_login_is_told_to_sign_in(client: Any) -> None:
    client.cookies.clear()
    page = client.get("/meterhouse/usage", headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert page.headers["www-authenticate"] == "Bearer"
    assert "Not authenticated: sign in to Airflow first" in page.text
    assert "data-section" not in page.text
    api = client.get("/meterhouse/usage")
    assert api.json() == {
        "detail": "Not authenticated: sign in to Airflow first (the UI's login, or a JWT "
        "from POST /auth/token)"
    }


class _Figures(HTMLParser):
    """data-section blocks of the page: for tables, one {data-key: data-value} per row."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[dict[str, str]]] = {}
        self._section: str | None = None
        self._row: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and "data-section" in a:
            self._section = a["data-section"]
            self.sections[self._section] = []
        elif tag == "tr" and self._section:
            self._row = {}
        elif tag == "td" and self._row is not None and "data-key" in a:
            self._row[a["data-key"]] = a["data-value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._section and self._row:
            self.sections[self._section].append(self._row)
            self._row = None
        elif tag == "table":
            self._section = None


def test_the_page_shows_the_lakes_figures(client: Any, lake: Any) -> None:
    from etl.jobs.usage_report import ReportFilters, usage_report

    client.cookies.set("_token", _token())
    page = client.get("/meterhouse/usage?start=2026-09-01&end=2026-10-20&currency=USD")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    report = usage_report(
        ReportFilters.parse(today=date(2026, 12, 1),
                            start="2026-09-01", end="2026-10-20", currency="USD"),
        lake,
    )  # fmt: skip
    rects = re.findall(r'data-day="([\d-]+)" data-meter="([^"]+)" data-cost="([^"]+)"', html)
    assert {(d, m, Decimal(c)) for d, m, c in rects} == {
        (str(r["day"]), r["meter"], r["cost"]) for r in report["cost_by_day"]
    }
    assert len(rects) > 50
    figures = _Figures()
    figures.feed(html)
    top = figures.sections["top-this-month"]
    assert [(r["customer"], Decimal(r["cost"])) for r in top] == [
        (r["customer"], r["cost"]) for r in report["top_customers"]["this_month"]
    ]
    assert {r["currency"] for r in top} == {"USD"}
    assert [r["meter"] for r in figures.sections["unrated"]] == ["quantum_hours"] * 4
    assert 'data-section="month-to-date" data-currency="USD"' in html
    assert "EUR" not in re.sub(r"<option[^>]*>EUR</option>", "", html)


def test_bad_filters_and_a_missing_warehouse_are_pages_not_errors(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.cookies.set("_token", _token())
    bad = client.get("/meterhouse/usage?start=2026-09-30&end=2026-09-01")
    assert bad.status_code == 400
    assert "start 2026-09-30 is after end 2026-09-01; give start &lt;= end" in bad.text
    monkeypatch.setenv("METERHOUSE_WAREHOUSE", str(tmp_path / "none" / "warehouse.duckdb"))
    monkeypatch.delenv("METERHOUSE_LAKE")
    empty = client.get("/meterhouse/usage")
    assert empty.status_code == 200
    assert 'data-state="missing"' in empty.text
    assert "No usage to show yet." in empty.text
    assert not (tmp_path / "none").exists()
