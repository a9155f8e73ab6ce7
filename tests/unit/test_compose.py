"""docker-compose.yml, checked structurally against the embedded stack (no Docker engine in CI).

The embedded stack (scripts/stack.py) is what runs and is tested end to end; these tests keep
the compose file in step with it: the same Airflow commands, the same variable names, the same
values wherever the value is not an address, a path or a secret.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
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
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "the login name comes from _AIRFLOW_WWW_USER_USERNAME",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "compose's scheduler healthcheck polls it",
}
# Variables only the set-up service sees (it writes the login file).
INIT_ONLY = {"MH_ADMIN_PASSWORD"}
AIRFLOW_UID_USER = "${AIRFLOW_UID:-50000}:0"
# Every service built from docker/airflow.Dockerfile.
IMAGE_SERVICES = ["minio-seed", "airflow-init", "ingest-gateway", *AIRFLOW_SERVICES.values()]
DOCKERFILE = ROOT / "docker" / "airflow.Dockerfile"


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
    init_script = compose["services"]["airflow-init"]["command"][-1]
    assert "/entrypoint python /opt/meterhouse/scripts/stack.py init\n" in init_script
    assert compose["services"]["minio-seed"]["command"][-2:] == [
        "/opt/meterhouse/scripts/stack.py",
        "seed",
    ]


def test_environment_matches_the_embedded_configuration(
    compose: dict[str, Any], embedded_env: dict[str, str]
) -> None:
    for service in ["minio-seed", "airflow-init", *AIRFLOW_SERVICES.values()]:
        env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
        if service == "airflow-init":
            env = {k: v for k, v in env.items() if k not in INIT_ONLY}
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
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_the_gateway_service_runs_meterhouse_serve_with_hashed_keys(
    compose: dict[str, Any],
) -> None:
    import hashlib

    gateway = compose["services"]["ingest-gateway"]
    assert gateway["command"] == ["meterhouse", "serve"]
    env = gateway["environment"]
    assert env["METERHOUSE_LANDING"] == "s3://usage/ingest/"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    demo = hashlib.sha256(b"meterhouse-demo-key").hexdigest()
    assert env["METERHOUSE_GATEWAY_API_KEYS"] == f"${{METERHOUSE_GATEWAY_API_KEYS:-{demo}}}"
    assert gateway["ports"] == [f"127.0.0.1:8090:{env['METERHOUSE_GATEWAY_PORT']}"]


# -- what would stop `docker compose up` the first time (issue 17) -----------------------------


def _lock_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (version,) = {p["version"] for p in lock["package"] if p["name"] == name}
    return str(version)


def _dockerfile() -> str:
    # one instruction per line: join the backslash continuations
    return DOCKERFILE.read_text().replace("\\\n", " ")


def test_the_minio_image_is_pinned_to_a_published_release(compose: dict[str, Any]) -> None:
    image = compose["services"]["minio"]["image"]
    pinned = re.fullmatch(
        r"minio/minio(:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)?(@sha256:[0-9a-f]{64})?", image
    )
    assert pinned and (pinned[1] or pinned[2]), f"{image}: pin a RELEASE tag or a digest"
    # the tag's source is written next to it
    text = (ROOT / "docker-compose.yml").read_text()
    before = text[: text.index(f"image: {image}")].rsplit("minio:", 1)[1]
    assert "cloudnative-pg" in before and pinned[1].lstrip(":") in before


def test_named_volumes_are_handed_to_the_host_airflow_uid(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["airflow-init"]
    # Docker creates named volumes as root: the init runs as root and chowns them, as in the
    # official compose, before anything else writes to them.
    assert init["user"] == "0:0"
    chown = next(
        shlex.split(line)
        for line in init["command"][-1].splitlines()
        if line.startswith("chown -R ")
    )
    assert chown[2] == AIRFLOW_UID_USER
    mounted = {
        target
        for name in IMAGE_SERVICES
        for volume in services[name].get("volumes", [])
        for source, target in [volume.split(":")[:2]]
        if source in compose["volumes"]
    }
    assert mounted == {"/opt/airflow/config", "/opt/airflow/logs", "/opt/meterhouse/data"}
    assert set(chown[3:]) == mounted
    # the chown comes after the last step that may create files there as root
    script = init["command"][-1]
    assert script.index("chown -R") > script.index("stack.py init")
    for name in IMAGE_SERVICES:
        if name != "airflow-init":
            assert services[name]["user"] == AIRFLOW_UID_USER, name
            assert "airflow-init" in _waits_for(services, name), name


def _waits_for(services: dict[str, Any], name: str) -> set[str]:
    """The services `name` waits for to be healthy or completed, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep, how in services[todo.pop()].get("depends_on", {}).items():
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_seed_job_waits_for_postgres_and_the_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    # The image's entrypoint checks the Airflow DB before running `python ...`.
    assert services["minio-seed"]["command"][0] == "python"
    assert services["minio-seed"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }


def test_scheduler_dag_processor_and_triggerer_have_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {
        "airflow-scheduler": ["CMD", "curl", "--fail", "http://localhost:8974/health"],
        "airflow-dag-processor": [
            "CMD-SHELL",
            'airflow jobs check --job-type DagProcessorJob --hostname "$${HOSTNAME}"',
        ],
        "airflow-triggerer": [
            "CMD-SHELL",
            'airflow jobs check --job-type TriggererJob --hostname "$${HOSTNAME}"',
        ],
        "airflow-apiserver": ["CMD", "curl", "--fail", "http://localhost:8080/api/v2/version"],
    }
    for name, test in expected.items():
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"] == test, name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    # the scheduler only serves /health when this is on
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_the_image_installs_exactly_the_lock(compose: dict[str, Any]) -> None:
    text = _dockerfile()
    instructions = [line.strip() for line in text.splitlines() if line.strip()[:1].isupper()]
    # the base image's Airflow and Python are the lock's
    (base,) = [line for line in instructions if line.startswith("FROM ")]
    version, python = re.fullmatch(r"FROM apache/airflow:([\d.]+)-python(3\.\d+)", base).groups()
    assert version == _lock_version("apache-airflow")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"apache-airflow=={version}" in project["dependencies"]
    assert project["requires-python"] == f">={python},<3.{int(python.split('.')[1]) + 1}"
    assert (
        compose["x-airflow-common"]["image"]
        == f"${{METERHOUSE_IMAGE:-meterhouse-airflow:{version}}}"
    )
    # uv comes from PyPI, pinned; the lock is copied and exported frozen, runtime deps only
    assert re.search(r'RUN pip install --no-cache-dir "uv==[\d.]+"', text)
    (copy_lock,) = [line for line in instructions if line.startswith("COPY") and "uv.lock" in line]
    assert "pyproject.toml" in copy_lock
    export = next(line for line in instructions if "uv export" in line)
    for flag in ("--frozen", "--no-dev", "--no-emit-project"):
        assert flag in export
    assert "pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt" in export
    # nothing else resolves: every other pip install of the image installs without deps
    for line in instructions:
        if "pip install" in line and "requirements.txt" not in line and '"uv==' not in line:
            assert "--no-deps" in line, line


def test_the_build_context_leaves_out_local_state() -> None:
    ignore = ROOT / ".dockerignore"
    assert ignore.exists(), "no .dockerignore: the build context carries .venv and data"
    patterns = {
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip()[:1] not in ("", "#")
    }
    must = {
        ".git",
        ".venv",
        "data",
        ".run",
        "bench/.cache",
        "node_modules",
        "test-artifacts",
        "**/__pycache__",
        ".env",
    }
    assert must <= patterns, must - patterns
    # and nothing the Dockerfile COPYs is left out
    copied = {
        source
        for line in _dockerfile().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }
    assert copied >= {"uv.lock", "pyproject.toml", "etl", "contracts", "plugins", "scripts"}
    assert not {p for p in patterns if p.lstrip("*/") in copied}


def test_the_login_comes_from_the_environment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == (
        "${_AIRFLOW_WWW_USER_USERNAME:-admin}:admin"
    )
    init = services["airflow-init"]
    password = init["environment"]["MH_ADMIN_PASSWORD"]
    assert password.startswith("${MH_ADMIN_PASSWORD:?"), "the password must be required"
    # airflow-init writes the login file from it on every start, before stack.py init (which
    # only writes its own demo password when the file is missing)
    script = init["command"][-1]
    assert 'os.environ["MH_ADMIN_PASSWORD"]' in script
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert script.index("MH_ADMIN_PASSWORD") < script.index("stack.py init")
    text = (ROOT / "docker-compose.yml").read_text()
    assert "admin:admin" not in text and "admin / admin" not in text
    for name in IMAGE_SERVICES:
        if name != "airflow-init":
            assert "MH_ADMIN_PASSWORD" not in services[name].get("environment", {}), name


def test_the_gateway_starts_without_the_airflow_entrypoint_and_is_health_checked(
    compose: dict[str, Any],
) -> None:
    gateway = compose["services"]["ingest-gateway"]
    # /entrypoint hands everything but bash/python to the airflow CLI (`airflow meterhouse ...`)
    assert gateway["entrypoint"] == ["/usr/bin/dumb-init", "--"]
    port = gateway["environment"]["METERHOUSE_GATEWAY_PORT"]
    assert gateway["healthcheck"]["test"] == [
        "CMD",
        "curl",
        "--fail",
        f"http://localhost:{port}/healthz",
    ]
