"""Settings: every variable is validated, and a bad value names its variable and the form it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.settings import AirflowSettings, Settings, SettingsError, s3_from_env


def test_defaults_and_explicit_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METERHOUSE_WAREHOUSE", "METERHOUSE_LAKE", "METERHOUSE_CHUNK_ROWS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.warehouse_path == Path("data/warehouse.duckdb")
    assert settings.lake_path == Path("data/lake")
    assert settings.chunk_rows == 200_000
    assert settings.rollup_dimensions == ("team", "project")
    monkeypatch.setenv("METERHOUSE_LAKE", "/elsewhere/lake")
    # an explicit warehouse wins, and its lake sits beside it
    assert Settings.from_env("/x/wh.duckdb").lake_path == Path("/x/lake")
    assert Settings.from_env().lake_path == Path("/elsewhere/lake")


def test_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERHOUSE_CHUNK_ROWS", "5000")
    monkeypatch.setenv("METERHOUSE_REJECT_THRESHOLD", "0.25")
    monkeypatch.setenv("METERHOUSE_ROLLUP_DIMENSIONS", " team , env,")
    monkeypatch.setenv("METERHOUSE_SPOOL_DIR", "/tmp/spool")
    monkeypatch.setenv("METERHOUSE_GROUP_FILES", "")  # empty means unset
    settings = Settings.from_env("wh.duckdb")
    assert settings.chunk_rows == 5000
    assert settings.reject_threshold == 0.25
    assert settings.rollup_dimensions == ("team", "env")
    assert settings.spool_dir == Path("/tmp/spool")
    assert settings.group_files == 500


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METERHOUSE_CHUNK_ROWS", "lots", r"METERHOUSE_CHUNK_ROWS='lots': .*integer"),
        ("METERHOUSE_CHUNK_ROWS", "0", r"METERHOUSE_CHUNK_ROWS='0': .*greater than 0"),
        ("METERHOUSE_REJECT_THRESHOLD", "2", r"METERHOUSE_REJECT_THRESHOLD='2': must be a fraction"),
        ("METERHOUSE_LATE_DAYS", "week", r"METERHOUSE_LATE_DAYS='week': must be a whole number"),
        (
            "METERHOUSE_FOCUS_CUSTOMER_FROM",
            "Tags",
            r"METERHOUSE_FOCUS_CUSTOMER_FROM='Tags': must be SubAccountId or BillingAccountId",
        ),
    ],
)
def test_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message) as info:
        Settings.from_env("wh.duckdb")
    assert "invalid literal" not in str(info.value)


def test_airflow_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERHOUSE_SENSOR_TIMEOUT", "120")
    monkeypatch.setenv("METERHOUSE_LANDING", "s3://bucket/in/")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://ui:8080/")
    config = AirflowSettings.from_env()
    assert (config.sensor_timeout_s, config.landing, config.ui_base_url) == (
        120,
        "s3://bucket/in/",
        "http://ui:8080",
    )
    monkeypatch.setenv("METERHOUSE_LANDING", "usage/ingest")
    with pytest.raises(SettingsError, match="METERHOUSE_LANDING='usage/ingest'"):
        AirflowSettings.from_env()


def test_s3_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert s3_from_env().endpoint_url == "http://127.0.0.1:9"
    assert s3_from_env().region == "us-east-1"
