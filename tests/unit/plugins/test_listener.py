"""The failure alert: its text, the webhook POST, the user's callable, and the plugin's registration."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

import pytest

from meterhouse_airflow import listener
from meterhouse_airflow.listener import build_alert, send_alert, user_callback
from tests.alert_sink import AlertSink

CALLS: list[Mapping[str, Any]] = []


def record_failure(context: Mapping[str, Any]) -> None:
    """A METERHOUSE_ON_FAILURE target."""
    CALLS.append(context)


def _alert() -> dict[str, Any]:
    return build_alert(
        dag_id="usage_ingest",
        run_id="manual__2026-09-07",
        reason="task_failure",
        failed_task="check_failures",
        failed_files=[{"uri": "s3://usage/ingest/bad.bin", "error": "not a usage export"}],
        ui_base_url="http://127.0.0.1:8080",
    )


def test_the_alert_names_the_run_task_files_and_link() -> None:
    alert = _alert()
    assert alert["url"] == "http://127.0.0.1:8080/dags/usage_ingest/runs/manual__2026-09-07"
    assert alert["text"] == (
        "meterhouse: usage_ingest run manual__2026-09-07 failed (task_failure) at task check_failures\n"
        "- s3://usage/ingest/bad.bin: not a usage export\n"
        "http://127.0.0.1:8080/dags/usage_ingest/runs/manual__2026-09-07"
    )


def test_an_alert_without_task_files_or_base_url() -> None:
    alert = build_alert(
        dag_id="usage_rollup", run_id="r1", reason=None, failed_task=None, failed_files=[]
    )
    assert alert["reason"] == "failed" and alert["url"] is None
    assert alert["text"] == "meterhouse: usage_rollup run r1 failed (failed)"


def test_send_logs_posts_and_calls_the_users_function(
    alert_webhook: AlertSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("METERHOUSE_ON_FAILURE", f"{__name__}:record_failure")
    CALLS.clear()
    alert = _alert()
    with caplog.at_level(logging.INFO, logger="meterhouse.alerts"):
        send_alert(alert, {"run_id": alert["run_id"], "alert": alert})
    assert alert_webhook.received == [alert]
    assert CALLS == [{"run_id": alert["run_id"], "alert": alert}]
    assert "alert dag_id=usage_ingest run_id=manual__2026-09-07 reason=task_failure" in caplog.text
    assert "alert sent to webhook status=204" in caplog.text


def test_an_unreachable_webhook_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_METERHOUSE_ALERTS", f"http://127.0.0.1:{port}/alert")
    monkeypatch.delenv("METERHOUSE_ON_FAILURE", raising=False)
    send_alert(_alert(), {})
    assert "alert webhook failed:" in caplog.text


def test_a_bad_user_callable_spec_says_the_expected_form() -> None:
    with pytest.raises(ValueError, match="must look like package.module:function"):
        user_callback("tests.unit.plugins.test_listener")
    with pytest.raises(TypeError, match="is not callable"):
        user_callback(f"{__name__}:CALLS")


def test_airflow_loads_the_plugin_and_its_listener_from_the_plugins_folder() -> None:
    from airflow.listeners.listener import get_listener_manager
    from airflow.plugins_manager import get_import_errors, get_plugin_info

    assert get_import_errors() == {}
    (info,) = [p for p in get_plugin_info() if p["name"] == "meterhouse"]
    assert str(info["source"]).endswith("meterhouse_plugin.py")
    assert get_listener_manager().pm.is_registered(listener)


def _conn(uri_or_json: str) -> Any:
    from airflow.sdk.definitions.connection import Connection

    if uri_or_json.startswith("{"):
        import json

        fields = json.loads(uri_or_json)
        if "extra" in fields:
            fields["extra"] = json.dumps(fields["extra"])
        return Connection(conn_id="meterhouse_alerts", **fields)
    return Connection.from_uri(uri_or_json, conn_id="meterhouse_alerts")


@pytest.mark.parametrize(
    ("connection", "url"),
    [
        ("http://127.0.0.1:8123/alert", "http://127.0.0.1:8123/alert"),  # URI form
        ('{"conn_type": "http", "host": "alerts.internal", "port": 8080, "schema": "https", "extra": {"endpoint": "/hook"}}', "https://alerts.internal:8080/hook"),
        ('{"conn_type": "http", "host": "https://hooks.example.com/services/T0/B0/X"}', "https://hooks.example.com/services/T0/B0/X"),
        ('{"conn_type": "http", "host": "alerts.internal"}', "http://alerts.internal"),
    ],
)  # fmt: skip
def test_the_webhook_url_comes_from_the_connection(connection: str, url: str) -> None:
    assert listener.webhook_url(_conn(connection)) == url


def test_without_the_connection_alerts_are_logged_once_and_not_posted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sink = AlertSink()
    try:
        # The old variable is not a way to post any more: it only earns a warning.
        monkeypatch.setenv("METERHOUSE_ALERT_WEBHOOK", sink.url)
        monkeypatch.setenv("METERHOUSE_ALERT_CONN_ID", "meterhouse_alerts_missing")
        monkeypatch.delenv("METERHOUSE_ON_FAILURE", raising=False)
        with caplog.at_level(logging.INFO, logger="meterhouse.alerts"):
            send_alert(_alert(), {})
            send_alert(_alert(), {})
        assert sink.received == []
        assert caplog.text.count("no Airflow connection 'meterhouse_alerts_missing'") == 1
        assert caplog.text.count("alert dag_id=usage_ingest") == 2
        assert "METERHOUSE_ALERT_WEBHOOK is no longer read" in caplog.text
    finally:
        sink.close()
