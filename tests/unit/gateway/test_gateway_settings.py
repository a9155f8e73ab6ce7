"""GatewaySettings: keys as sha256 digests with scopes, a keys file, errors that name the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.settings import GatewaySettings, SettingsError

H1, H2 = "a" * 64, "B" * 64


def test_keys_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("METERHOUSE_GATEWAY_API_KEYS", f"{H1}=c1| c2 , {H2}")
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps([{"sha256": "c" * 64, "customers": ["x"], "name": "ops"}]))
    monkeypatch.setenv("METERHOUSE_GATEWAY_API_KEYS_FILE", str(keys_file))
    settings = GatewaySettings.from_env()
    assert [(k.sha256[:1], k.customers, k.name) for k in settings.api_keys] == [
        ("a", frozenset({"c1", "c2"}), "aaaaaaaa"),
        ("b", None, "bbbbbbbb"),
        ("c", frozenset({"x"}), "ops"),
    ]
    assert (settings.host, settings.port, settings.linger_ms) == ("127.0.0.1", 8090, 100)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METERHOUSE_GATEWAY_API_KEYS", "secret-key", "METERHOUSE_GATEWAY_API_KEYS: 'secret-key'"),
        ("METERHOUSE_GATEWAY_LINGER_MS", "5000", "METERHOUSE_GATEWAY_LINGER_MS='5000': must be"),
        ("METERHOUSE_GATEWAY_MAX_RECORDS", "0", "METERHOUSE_GATEWAY_MAX_RECORDS='0'"),
        (
            "METERHOUSE_GATEWAY_API_KEYS_FILE",
            "/nonexistent.json",
            "METERHOUSE_GATEWAY_API_KEYS_FILE",
        ),
    ],
)
def test_bad_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("METERHOUSE_GATEWAY_API_KEYS", H1)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        GatewaySettings.from_env()
    assert message in str(info.value)


def test_no_key_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERHOUSE_GATEWAY_API_KEYS", raising=False)
    monkeypatch.delenv("METERHOUSE_GATEWAY_API_KEYS_FILE", raising=False)
    with pytest.raises(SettingsError, match="METERHOUSE_GATEWAY_API_KEYS is empty"):
        GatewaySettings.from_env()
