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


# -- docker-compose.production.yml: CeleryExecutor + Redis + two workers, DuckLake on Postgres/MinIO


PRODUCTION_FILE = ROOT / "docker-compose.production.yml"
WORKER_SERVICES = ["airflow-worker-1", "airflow-worker-2"]
PRODUCTION_AIRFLOW = [*AIRFLOW_SERVICES.values(), *WORKER_SERVICES]
PRODUCTION_IMAGE_SERVICES = ["minio-init", "airflow-init", "ingest-gateway", *PRODUCTION_AIRFLOW]
# Values production sets differently from docker-compose.yml on purpose, and why.
PRODUCTION_DIFFERS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "the Postgres password comes from .env",
    "AIRFLOW__API_AUTH__JWT_SECRET": "a required secret, no default",
    "AIRFLOW__API__SECRET_KEY": "a required secret, no default",
    "AIRFLOW_CONN_AWS_DEFAULT": "the MinIO login comes from .env",
    "AWS_ACCESS_KEY_ID": "the MinIO login comes from .env",
    "AWS_SECRET_ACCESS_KEY": "the MinIO login comes from .env",
}
# Secrets production must never default (compose refuses to start without them).
PRODUCTION_SECRETS = {
    "MH_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "METERHOUSE_GATEWAY_API_KEYS",
}
# What a user's .env holds in these tests.
DOT_ENV = {
    "MH_ADMIN_PASSWORD": "s3cret-admin",
    "POSTGRES_PASSWORD": "pgpass123",
    "MINIO_ROOT_PASSWORD": "miniopass123",
    "AIRFLOW_JWT_SECRET": "jwt" * 10,
    "AIRFLOW_API_SECRET_KEY": "key" * 10,
    "METERHOUSE_GATEWAY_API_KEYS": "ab" * 32,
}


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    data = yaml.safe_load(PRODUCTION_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def production_env_names() -> set[str]:
    from stack import production_env

    return set(
        production_env(metadata_url="", broker_url="", ducklake_catalog="", ducklake_data_path="")
    )


def _interpolate(value: str, dot_env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${X}, ${X:-default}, ${X:?error}, $$ (a literal $)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in dot_env:
            return dot_env[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse to start: {arg}")
        return arg if op == ":-" else ""

    pattern = r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
    parts = value.split("$$")
    return "$".join(re.sub(pattern, one, part) for part in parts)


def _resolved_env(service: dict[str, Any], dot_env: dict[str, str] = DOT_ENV) -> dict[str, str]:
    return {k: _interpolate(str(v), dot_env) for k, v in service["environment"].items()}


def test_production_has_redis_two_celery_workers_and_its_own_project(
    production: dict[str, Any], compose: dict[str, Any]
) -> None:
    services = production["services"]
    base = set(compose["services"]) - {"minio-seed"}
    assert set(services) == base | {"minio-init", "redis", *WORKER_SERVICES}
    assert production["name"] != compose.get("name", "meterhouse")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"] == compose["services"]["postgres"]["image"]
    assert services["minio"]["image"] == compose["services"]["minio"]["image"]
    for name in PRODUCTION_IMAGE_SERVICES:
        assert services[name]["image"] == compose["x-airflow-common"]["image"], name
        assert services[name]["build"] == compose["x-airflow-common"]["build"], name
        assert services[name]["user"] == ("0:0" if name == "airflow-init" else AIRFLOW_UID_USER), (
            name
        )
    assert production["volumes"].keys() == compose["volumes"].keys()


def test_production_runs_the_embedded_commands_and_celery_workers(
    production: dict[str, Any], compose: dict[str, Any]
) -> None:
    from stack import AIRFLOW_COMMANDS, CELERY_WORKER_COMMAND, ensure_bucket

    services = production["services"]
    for component, service in AIRFLOW_SERVICES.items():
        assert services[service]["command"] == AIRFLOW_COMMANDS[component], service
    for worker in WORKER_SERVICES:
        assert (
            services[worker]["command"]
            == CELERY_WORKER_COMMAND
            == [
                "celery",
                "worker",
                "--skip-serve-logs",
            ]
        )
    # set-up: the same init as docker-compose.yml; the bucket only, no sample exports
    assert services["airflow-init"]["command"] == compose["services"]["airflow-init"]["command"]
    assert services["airflow-init"]["entrypoint"] == "/bin/bash"
    assert services["minio-init"]["command"] == [
        "python",
        "/opt/meterhouse/scripts/stack.py",
        "bucket",
    ]
    assert callable(ensure_bucket)
    gateway = services["ingest-gateway"]
    assert gateway["command"] == compose["services"]["ingest-gateway"]["command"]
    assert gateway["entrypoint"] == compose["services"]["ingest-gateway"]["entrypoint"]


def test_production_environment_is_the_embedded_one_plus_celery_and_ducklake(
    production: dict[str, Any],
    compose: dict[str, Any],
    embedded_env: dict[str, str],
    production_env_names: set[str],
) -> None:
    base = {k: str(v) for k, v in compose["x-airflow-common"]["environment"].items()}
    extra = {"PGPASSWORD"}  # libpq's password for the DuckLake catalog
    for name in ["minio-init", "airflow-init", *PRODUCTION_AIRFLOW]:
        env = {k: str(v) for k, v in production["services"][name]["environment"].items()}
        env.pop("MH_ADMIN_PASSWORD" if name == "airflow-init" else "", None)
        if name in WORKER_SERVICES:
            assert env.pop("DUMB_INIT_SETSID") == "0"  # warm shutdown of the worker
        assert set(env) == set(embedded_env) | production_env_names | extra, (
            name,
            set(env) ^ (set(embedded_env) | production_env_names | extra),
        )
        same = set(base) - production_env_names - set(PRODUCTION_DIFFERS)
        assert {k: env[k] for k in same} == {k: base[k] for k in same}, name


def test_production_wires_celery_to_redis_and_postgres(
    production: dict[str, Any], production_env_names: set[str]
) -> None:
    from stack import production_env

    services = production["services"]
    env = _resolved_env(services["airflow-scheduler"])
    postgres = services["postgres"]["environment"]
    user, password = postgres["POSTGRES_USER"], DOT_ENV["POSTGRES_PASSWORD"]
    metadata = f"postgresql+psycopg2://{user}:{password}@postgres/{postgres['POSTGRES_DB']}"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == metadata
    expected = production_env(
        metadata_url=metadata,
        broker_url="redis://redis:6379/0",
        ducklake_catalog=f"host=postgres dbname=meterhouse user={user}",
        ducklake_data_path="s3://usage/lake/",
    )
    assert {k: env[k] for k in production_env_names} == expected
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{metadata}"
    # the broker's host is the redis service, on Redis's port (not published)
    assert "ports" not in services["redis"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_production_settings_read_a_ducklake_on_postgres_and_minio(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from etl.settings import Settings

    services = production["services"]
    env = _resolved_env(services["airflow-worker-1"])
    for name in list(os.environ):
        if name.startswith(("METERHOUSE_", "AWS_", "AIRFLOW")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lake = Settings.from_env().ducklake
    assert lake is not None, "METERHOUSE_WAREHOUSE_BACKEND=ducklake is not wired"
    assert lake.data_path == "s3://usage/lake/"
    # the data files live in the bucket minio-init creates, beside (not under) the landing prefix
    assert lake.data_path.startswith("s3://usage/")
    assert not lake.data_path.startswith(env["METERHOUSE_LANDING"])
    assert lake.s3_endpoint_url == "http://minio:9000"
    minio = {k: _interpolate(v, DOT_ENV) for k, v in services["minio"]["environment"].items()}
    assert (lake.s3_access_key_id, lake.s3_secret_access_key) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert (conn["login"], conn["password"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    assert conn["extra"]["endpoint_url"] == env["AWS_ENDPOINT_URL"]
    # libpq: the catalog's host, database and user are Postgres's; its password is PGPASSWORD
    catalog = dict(part.split("=", 1) for part in lake.catalog.split())
    postgres = services["postgres"]["environment"]
    assert catalog["host"] == "postgres"
    assert catalog["user"] == postgres["POSTGRES_USER"]
    assert "password" not in catalog
    assert env["PGPASSWORD"] == _interpolate(postgres["POSTGRES_PASSWORD"], DOT_ENV)


def test_production_creates_the_catalog_database(production: dict[str, Any]) -> None:
    postgres = production["services"]["postgres"]
    initdb = [v for v in postgres["volumes"] if ":/docker-entrypoint-initdb.d" in v]
    assert initdb == ["./docker/postgres:/docker-entrypoint-initdb.d:ro"]
    scripts = sorted((ROOT / "docker" / "postgres").glob("*.sql"))
    assert scripts, "no script creates the DuckLake catalog database"
    sql = " ".join(p.read_text() for p in scripts)
    catalog = production["x-airflow-common"]["environment"]["METERHOUSE_DUCKLAKE_CATALOG"]
    dbname = dict(part.split("=", 1) for part in catalog.split())["dbname"]
    owner = postgres["environment"]["POSTGRES_USER"]
    assert re.search(rf"CREATE DATABASE {dbname} OWNER {owner};", sql), sql
    assert dbname != postgres["environment"]["POSTGRES_DB"]


def test_production_services_start_in_order_and_are_health_checked(
    production: dict[str, Any], compose: dict[str, Any]
) -> None:
    services = production["services"]
    for name in PRODUCTION_AIRFLOW:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "minio-init": {"condition": "service_completed_successfully"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }, name
        assert services[name]["restart"] == "unless-stopped", name
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["minio-init"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }
    for name in PRODUCTION_IMAGE_SERVICES:
        if name != "airflow-init":
            assert "airflow-init" in _waits_for(services, name), name
    # the components' checks are docker-compose.yml's; each worker answers a Celery ping by name
    for name in [*AIRFLOW_SERVICES.values(), "postgres", "minio", "ingest-gateway"]:
        assert services[name]["healthcheck"] == compose["services"][name]["healthcheck"], name
    for name in WORKER_SERVICES:
        check = services[name]["healthcheck"]
        kind, command = check["test"]
        assert kind == "CMD-SHELL"
        assert command.startswith(
            "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping"
        )
        assert '-d "celery@$${HOSTNAME}"' in command  # the worker's default node name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    redis = services["redis"]["healthcheck"]
    assert {"interval", "timeout", "retries"} <= set(redis)


def test_production_has_no_default_secrets(production: dict[str, Any]) -> None:
    text = PRODUCTION_FILE.read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    assert PRODUCTION_SECRETS <= used
    for name in PRODUCTION_SECRETS:
        forms = set(re.findall(rf"\$\{{{name}(:-|:\?|\}})", text))
        assert forms == {":?"}, f"{name} must be required (${{{name}:?...}}), not {forms}"
    for default in ("change-me", "meterhouse-local", "admin:admin", "meterhouse-demo-key"):
        assert default not in text, default
    # every secret missing: compose refuses to start (what _interpolate raises for)
    for name in PRODUCTION_SECRETS:
        partial = {k: v for k, v in DOT_ENV.items() if k != name}
        with pytest.raises(AssertionError, match="compose would refuse to start"):
            for service in production["services"].values():
                if "environment" in service:
                    _resolved_env(service, partial)


def test_production_ports_are_bound_to_localhost_only(production: dict[str, Any]) -> None:
    published = [
        (name, port)
        for name, svc in production["services"].items()
        for port in svc.get("ports", [])
    ]
    assert {name for name, _ in published} == {"minio", "airflow-apiserver", "ingest-gateway"}
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)
