"""docker-compose.yml, checked structurally against the embedded stack (no Docker engine in CI).

The embedded stack (scripts/stack.py) is what runs and is tested end to end; these tests keep
the compose file in step with it: the same Airflow commands, the same variable names, the same
values wherever the value is not an address, a path or a secret.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

AIRFLOW_SERVICES = {
    "api-server": "airflow-apiserver",
    "scheduler": "airflow-scheduler",
    "dag-processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
}
# Values that differ between the embedded stack and compose on purpose, and why.
DIFFERS_BY_DESIGN = {
    "AIRFLOW_HOME": "a path",
    "AIRFLOW__CORE__DAGS_FOLDER": "a path",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "a path",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "a path",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "SQLite embedded, Postgres in compose",
    "AIRFLOW__API__HOST": "inside a container the API listens on all interfaces; the published port is 127.0.0.1",
    "AIRFLOW__API__PORT": "a free port in tests",
    "AIRFLOW__API__BASE_URL": "an address",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "an address",
    "AIRFLOW__API_AUTH__JWT_SECRET": "a secret",
    "AIRFLOW__API__SECRET_KEY": "a secret",
    "AIRFLOW_CONN_AWS_DEFAULT": "an address (checked field by field below)",
    "AWS_ENDPOINT_URL": "an address",
    "METERHOUSE_WAREHOUSE": "a path",
    "METERHOUSE_LAKE": "a path",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from stack import StackConfig, airflow_env

    home = tmp_path_factory.mktemp("stack-home")
    return airflow_env(StackConfig(home=home, warehouse=home / "warehouse.duckdb"))


def test_compose_has_the_production_shaped_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "minio",
        "minio-seed",
        "airflow-init",
        "ingest-gateway",
        *AIRFLOW_SERVICES.values(),
    }
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["minio"]["image"].startswith("minio/minio")
    for name in ["minio-seed", "airflow-init", *AIRFLOW_SERVICES.values()]:
        assert services[name]["image"].startswith("${METERHOUSE_IMAGE:-meterhouse-airflow:3.3.2}")
        assert services[name]["build"]["dockerfile"] == "docker/airflow.Dockerfile"
    assert (ROOT / "docker" / "airflow.Dockerfile").read_text().count(
        "FROM apache/airflow:3.3.2"
    ) == 1
    assert set(compose["volumes"]) >= {"postgres-db", "minio-data", "warehouse", "airflow-logs"}


def test_every_airflow_service_runs_the_embedded_command(compose: dict[str, Any]) -> None:
    from stack import AIRFLOW_COMMANDS

    assert set(AIRFLOW_COMMANDS) == set(AIRFLOW_SERVICES)
    for component, service in AIRFLOW_SERVICES.items():
        assert compose["services"][service]["command"] == AIRFLOW_COMMANDS[component], service
    # Set-up steps run the same code as `make up` does.
    assert compose["services"]["airflow-init"]["command"][-2:] == [
        "/opt/meterhouse/scripts/stack.py",
        "init",
    ]
    assert compose["services"]["minio-seed"]["command"][-2:] == [
        "/opt/meterhouse/scripts/stack.py",
        "seed",
    ]


def test_environment_matches_the_embedded_configuration(
    compose: dict[str, Any], embedded_env: dict[str, str]
) -> None:
    for service in ["minio-seed", "airflow-init", *AIRFLOW_SERVICES.values()]:
        env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
        assert set(env) == set(embedded_env), (service, set(env) ^ set(embedded_env))
        same = {k for k in embedded_env if k not in DIFFERS_BY_DESIGN}
        assert {k: env[k] for k in same} == {k: embedded_env[k] for k in same}, service


def test_the_s3_connection_points_at_minio_with_the_same_names(
    compose: dict[str, Any], embedded_env: dict[str, str]
) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    compose_conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    embedded_conn = json.loads(embedded_env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert compose_conn["conn_type"] == embedded_conn["conn_type"] == "aws"
    assert compose_conn["extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    minio = compose["services"]["minio"]["environment"]
    assert (compose_conn["login"], compose_conn["password"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    assert env["METERHOUSE_AWS_CONN_ID"] == "aws_default"


def test_published_ports_are_bound_to_localhost_only(compose: dict[str, Any]) -> None:
    published = [
        (name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])
    ]
    assert published, "the UI must be reachable"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_services_start_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for service in AIRFLOW_SERVICES.values():
        deps = services[service]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"
        assert deps["minio-seed"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"
    assert services["minio-seed"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_the_gateway_service_runs_meterhouse_serve_with_hashed_keys(compose: dict[str, Any]) -> None:
    import hashlib

    gateway = compose["services"]["ingest-gateway"]
    assert gateway["command"] == ["meterhouse", "serve"]
    env = gateway["environment"]
    assert env["METERHOUSE_LANDING"] == "s3://usage/ingest/"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    demo = hashlib.sha256(b"meterhouse-demo-key").hexdigest()
    assert env["METERHOUSE_GATEWAY_API_KEYS"] == f"${{METERHOUSE_GATEWAY_API_KEYS:-{demo}}}"
    assert gateway["ports"] == [f"127.0.0.1:8090:{env['METERHOUSE_GATEWAY_PORT']}"]
