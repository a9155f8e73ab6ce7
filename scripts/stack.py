"""The embedded stack for clicking and end-to-end tests: Airflow + a local S3 on 127.0.0.1.

    python scripts/stack.py up      # `make up`: start, seed, wait until healthy, print URL + login
    python scripts/stack.py down    # `make down`: stop every process `up` started, by process id
    python scripts/stack.py status  # what runs, where
    python scripts/stack.py airflow -- backfill create --dag-id usage_ingest ...   # CLI on the stack

What `up` starts, each in its own session so that `down` can find every child by session id:
- the local S3 API (moto server, scripts/local_s3.py) with bucket `usage`, seeded with a month of
  sample exports (September 2026) under `s3://usage/ingest/`;
- the four Airflow 3 components that `airflow standalone` would run: api-server (UI + REST API
  v2), scheduler (LocalExecutor), dag-processor and triggerer. They are started one by one rather
  than through `airflow standalone` so that nothing listens on 0.0.0.0: standalone's serve-logs
  helpers bind every interface and have no host setting; here they are skipped (the API server
  reads task logs from the shared local log folder).

The Airflow configuration lives in `airflow_env()` and `AIRFLOW_COMMANDS`; docker-compose.yml
uses the same commands and variable names (tests/unit/test_compose.py checks it).
State lives under `.run/stack/` (Airflow home, logs, pids); the warehouse in `data/`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from local_s3 import s3_env, start_s3  # noqa: E402

DEFAULT_HOME = ROOT / ".run" / "stack"
DEFAULT_WAREHOUSE = ROOT / "data" / "warehouse.duckdb"
DEFAULT_API_PORT = 8080
DEFAULT_S3_PORT = 5055
DEFAULT_GATEWAY_PORT = 8090
USERNAME = "admin"
PASSWORD = "admin"  # a local, 127.0.0.1-only demo login; documented in the README
BUCKET = "usage"
LANDING = f"s3://{BUCKET}/ingest/"
POOL = "meterhouse_warehouse"
# The sample month `up` seeds: fixed, so that the README's backfill commands always match it.
SAMPLE_START = date(2026, 9, 1)
SAMPLE_DAYS = 30
SAMPLE_CUSTOMERS = 100

# Airflow component -> `airflow ...` arguments. docker-compose.yml runs exactly these.
AIRFLOW_COMMANDS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
# A Celery worker (CeleryExecutor: StackConfig.celery_workers, the production compose profile's
# airflow-worker-1/2). Task logs go to the shared log folder the API server reads.
CELERY_WORKER_COMMAND: list[str] = ["celery", "worker", "--skip-serve-logs"]


@dataclass(frozen=True)
class StackConfig:
    home: Path = DEFAULT_HOME
    api_port: int = DEFAULT_API_PORT
    s3_port: int = DEFAULT_S3_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    warehouse: Path = DEFAULT_WAREHOUSE
    seed: bool = True
    extra_env: tuple[tuple[str, str], ...] = ()
    # Celery workers started beside the components, named worker-N@<host>; the executor, broker
    # and result backend come from extra_env (AIRFLOW__CORE__EXECUTOR=CeleryExecutor, ...).
    celery_workers: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _secret(home: Path, name: str) -> str:
    """A per-stack random secret, kept in the home so restarts keep sessions and tokens valid."""
    path = home / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(cfg: StackConfig) -> dict[str, str]:
    """The environment of every Airflow component (and of `airflow` CLI calls on the stack)."""
    home = cfg.home / "airflow"
    return {
        **s3_env(cfg.s3_port),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # LocalExecutor pre-forks `parallelism` workers; 4 is plenty on a laptop and keeps ~1 GiB.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(cfg.home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(cfg.api_port),
        "AIRFLOW__API__BASE_URL": cfg.url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(cfg.home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(cfg.home, "api_secret_key"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "METERHOUSE_WAREHOUSE": str(cfg.warehouse),
        "METERHOUSE_LAKE": str(cfg.warehouse.parent / "lake"),
        "METERHOUSE_LANDING": LANDING,
        "METERHOUSE_AWS_CONN_ID": "aws_default",
        "METERHOUSE_WAREHOUSE_POOL": POOL,
        "METERHOUSE_SENSOR_POKE_INTERVAL": "10",
        "METERHOUSE_SENSOR_TIMEOUT": "600",
        **dict(cfg.extra_env),
    }


def production_env(
    *, metadata_url: str, broker_url: str, ducklake_catalog: str, ducklake_data_path: str
) -> dict[str, str]:
    """What the production shape changes in `airflow_env`: the CeleryExecutor with a Redis
    broker, Postgres as the metadata DB (and Celery's result backend), the DuckLake warehouse.

    docker-compose.production.yml sets exactly these names (tests/unit/test_compose.py), the
    CeleryExecutor end-to-end test runs them (pass them as StackConfig.extra_env).
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        # task processes per worker; each worker runs them side by side
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "METERHOUSE_WAREHOUSE_BACKEND": "ducklake",
        "METERHOUSE_DUCKLAKE_CATALOG": ducklake_catalog,
        "METERHOUSE_DUCKLAKE_DATA_PATH": ducklake_data_path,
    }


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "METERHOUSE_"))}
    venv_bin = str(Path(sys.executable).parent)
    return {**base, **env, "PATH": f"{venv_bin}:{base.get('PATH', '')}"}


# -- process bookkeeping: every process we start is a session leader; its session is ours ------


def _pids_file(home: Path) -> Path:
    return home / "pids.json"


def _read_pids(home: Path) -> dict[str, int]:
    path = _pids_file(home)
    return {k: int(v) for k, v in json.loads(path.read_text()).items()} if path.exists() else {}


def _write_pid(home: Path, name: str, pid: int) -> None:
    pids = _read_pids(home)
    pids[name] = pid
    _pids_file(home).write_text(json.dumps(pids, indent=2))


def _session_members(session_ids: set[int]) -> list[int]:
    """Every live process whose session is one of ours (the leaders and all their children)."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) in session_ids and not _is_zombie(pid):
                members.append(pid)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return members


def _is_zombie(pid: int) -> bool:
    # An exited process its parent has not reaped yet: nothing left to stop.
    return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)


def _reap(pids: Sequence[int]) -> None:
    """Collect exit statuses of leaders this process started (tests start them in-process)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _spawn(name: str, argv: Sequence[str], env: Mapping[str, str], cfg: StackConfig) -> int:
    logs = cfg.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_child_env(env),
            cwd=ROOT,
            start_new_session=True,  # its own session: `down` finds every descendant by sid
        )
    _write_pid(cfg.home, name, proc.pid)
    return proc.pid


# -- up ---------------------------------------------------------------------------------------


def init_airflow() -> None:
    """Create or migrate the metadata DB, the one-slot writer pool and the login file.

    Runs in its own process with the stack's environment: `python scripts/stack.py init` (the
    embedded stack and docker-compose's airflow-init service both run exactly this).
    """
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.initdb()
    Pool.create_or_update_pool(
        POOL, slots=1, description="one warehouse writer", include_deferred=False
    )
    passwords = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if passwords and not Path(passwords).exists():
        Path(passwords).parent.mkdir(parents=True, exist_ok=True)
        # Must stay writable: the auth manager appends generated passwords for unknown users.
        Path(passwords).write_text(json.dumps({USERNAME: PASSWORD}))


def _init_airflow(env: Mapping[str, str], cfg: StackConfig) -> None:
    with open(cfg.home / "logs" / "init.log", "ab") as out:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "init"],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_child_env(env),
            cwd=ROOT,
        )


def seed_samples(
    endpoint: str,
    access_key: str = "meterhouse",
    secret_key: str = "meterhouse-local",
    start: date = SAMPLE_START,
    days: int = SAMPLE_DAYS,
) -> int:
    """Create the bucket and write the sample month's exports; returns the number of objects.

    Also `python scripts/stack.py seed` (docker-compose's minio-seed service), which reads the
    endpoint and keys from AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    """
    from etl.samples.amberflo import generate_amberflo_exports

    client = ensure_bucket(endpoint, access_key, secret_key)
    exports = generate_amberflo_exports(start=start, days=days, customers=SAMPLE_CUSTOMERS, seed=7)
    for key, data in exports:
        client.put_object(Bucket=BUCKET, Key=key, Body=data)
    return len(exports)


def ensure_bucket(endpoint: str, access_key: str, secret_key: str) -> Any:
    """Create the `usage` bucket unless it exists; returns the S3 client.

    Also `python scripts/stack.py bucket` (docker-compose.production.yml's minio-init service:
    the bucket without the sample month), with the endpoint and keys from AWS_* as for `seed`.
    """
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return client


class ApiError(RuntimeError):
    """An error answer of the REST API, with its HTTP status."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {text[:500]}")
        self.status = status


class ApiClient:
    """A tiny REST API v2 client with a JWT from /auth/token (used by `up`, tests and users)."""

    def __init__(self, url: str, username: str = USERNAME, password: str = PASSWORD) -> None:
        import requests

        self.url = url.rstrip("/")
        self.session = requests.Session()
        self._credentials = (username, password)

    def login(self) -> None:
        username, password = self._credentials
        response = self.session.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, *, attempts: int = 10, **kwargs: Any) -> Any:
        # On SQLite (the embedded stack) the API answers 503 "Database is locked" while the
        # scheduler holds the write lock: a request that changed nothing is worth a retry.
        for attempt in range(attempts):
            response = self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)
            if response.status_code != 503:
                break
            time.sleep(1 + attempt)
        if response.status_code >= 400:
            raise ApiError(method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def create_backfill(self, body: Mapping[str, Any], timeout_s: float = 600) -> dict[str, Any]:
        """POST /api/v2/backfills, riding out SQLite's lock errors.

        A 503 here may have changed something: Airflow commits the backfill before creating
        its runs, and when a lock error stops it half-way, its own clean-up can hit the lock
        too. The half-made backfill then runs the runs it got and is marked complete by the
        scheduler (one with no runs after two minutes); until then a new request answers 409.
        So after a 503 this waits for every backfill of the Dag to complete, then asks again.
        A 409 without a 503 before it is someone else's backfill: that is an error.
        """
        deadline = time.monotonic() + timeout_s
        locked = False
        while True:
            try:
                return dict(self.request("POST", "/api/v2/backfills", attempts=1, json=body))
            except ApiError as err:
                # SQLite's lock can also surface as a 500 "Database error" (the audit log
                # insert of the request hit it): the same case as a 503.
                busy = err.status == 503 or (err.status == 500 and "Database error" in str(err))
                if not (busy or (locked and err.status == 409)):
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{err} (still failing after {timeout_s:.0f}s)") from None
                locked = True
            self.wait_backfills_complete(str(body["dag_id"]), deadline)

    def wait_backfills_complete(self, dag_id: str, deadline: float) -> None:
        """Until no backfill of `dag_id` is running (or `deadline`, a monotonic time, passes)."""
        while time.monotonic() < deadline:
            params = {"dag_id": dag_id, "limit": 20, "order_by": "-id"}  # the newest
            listed = self.get("/api/v2/backfills", params=params)
            if all(b["completed_at"] for b in listed["backfills"]):
                return
            time.sleep(3)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)


def _wait_healthy(cfg: StackConfig, timeout_s: float) -> ApiClient:
    import requests

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        _assert_alive(cfg)
        try:
            health = requests.get(f"{cfg.url}/api/v2/monitor/health", timeout=5).json()
            states = {k: (v or {}).get("status") for k, v in health.items()}
            last = json.dumps(states)
            if all(s == "healthy" for s in states.values()) and len(states) >= 4:
                api = ApiClient(cfg.url)
                api.login()
                dag = api.get("/api/v2/dags/usage_ingest")
                if dag and not dag.get("is_paused", True):
                    return api
                last = f"usage_ingest not parsed/active yet: {states}"
        except (requests.RequestException, RuntimeError, ValueError) as exc:
            last = str(exc)[:200]
        time.sleep(2)
    raise SystemExit(
        f"the stack did not become healthy in {timeout_s:.0f}s ({last}); see {cfg.home / 'logs'}"
    )


def _assert_alive(cfg: StackConfig) -> None:
    for name, pid in _read_pids(cfg.home).items():
        try:
            if _is_zombie(pid):  # exited, not reaped yet: still listed
                raise psutil.NoSuchProcess(pid)
        except psutil.NoSuchProcess:
            raise SystemExit(
                f"{name} (pid {pid}) exited during start-up; see {cfg.home / 'logs' / (name + '.log')}"
            ) from None


def _restarting(argv: Sequence[str]) -> list[str]:
    """Run `argv` again when it exits, like compose's `restart: unless-stopped`.

    On SQLite, a backfill created while the scheduler writes can make the scheduler loop fail
    and exit (Airflow says backfills on SQLite are unsupported under concurrent access); the
    restarted scheduler picks the runs up. `down` stops the loop with its whole session.
    """
    loop = 'while :; do "$@"; echo "exited with $?, restarting in 3s" >&2; sleep 3; done'
    return ["/bin/bash", "-c", loop, "meterhouse-supervise", *argv]


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        # Like the servers themselves: a port in TIME_WAIT after `make down` is free to use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- the ingest gateway beside the stack (meterhouse serve; etl/gateway) ---------------------

def start_gateway(cfg: StackConfig) -> str:
    """Start `meterhouse serve` on 127.0.0.1 with a per-stack demo key; returns how to use it.

    Only the key's sha256 goes into the gateway's environment; the key itself is kept in the
    stack home (mode 600) for the README's curl example and the SDK.
    """
    import hashlib

    key = _secret(cfg.home, "gateway_key")
    env = {
        **s3_env(cfg.s3_port),
        "METERHOUSE_LANDING": LANDING,
        "METERHOUSE_GATEWAY_HOST": "127.0.0.1",
        "METERHOUSE_GATEWAY_PORT": str(cfg.gateway_port),
        "METERHOUSE_GATEWAY_API_KEYS": hashlib.sha256(key.encode()).hexdigest(),
    }
    _spawn("gateway", [_venv_bin("meterhouse"), "serve"], env, cfg)
    return (
        f"  ingest gateway:        http://127.0.0.1:{cfg.gateway_port}/ingest   "
        f"key: {cfg.home / '.gateway_key'}\n"
    )


def up(cfg: StackConfig, timeout_s: float = 240) -> ApiClient:
    """Start S3 + Airflow, seed samples, wait until healthy. Returns a logged-in API client."""
    if _read_pids(cfg.home) and _session_members(set(_read_pids(cfg.home).values())):
        raise SystemExit(f"a stack is already running from {cfg.home}; run `make down` first")
    for port in (cfg.api_port, cfg.s3_port):
        if not _port_free(port):
            raise SystemExit(
                f"127.0.0.1:{port} is in use; set METERHOUSE_AIRFLOW_PORT / METERHOUSE_S3_PORT"
            )
    started = time.monotonic()
    (cfg.home / "logs").mkdir(parents=True, exist_ok=True)
    _pids_file(cfg.home).write_text("{}")
    passwords = cfg.home / "passwords.json"
    passwords.write_text(json.dumps({USERNAME: PASSWORD}))  # the auth manager appends to it
    cfg.warehouse.parent.mkdir(parents=True, exist_ok=True)
    env = airflow_env(cfg)
    try:
        s3 = start_s3(cfg.s3_port, cfg.home / "logs" / "s3.log")
        _write_pid(cfg.home, "s3", s3.pid)
        if cfg.seed:
            n = seed_samples(cfg.s3_endpoint)
            print(
                f"seeded {n} sample export objects into {LANDING} ({SAMPLE_START:%B %Y})",
                flush=True,
            )
        _init_airflow(env, cfg)
        for name, args in AIRFLOW_COMMANDS.items():
            _spawn(name, _restarting([_venv_bin("airflow"), *args]), env, cfg)
        for n in range(1, cfg.celery_workers + 1):
            worker = [_venv_bin("airflow"), *CELERY_WORKER_COMMAND, "-H", f"worker-{n}@%h"]
            _spawn(f"celery-worker-{n}", worker, env, cfg)
        gateway = start_gateway(cfg)
        api = _wait_healthy(cfg, timeout_s)
    except BaseException:
        down(cfg, quiet=True)
        raise
    (cfg.home / "env.sh").write_text(
        "".join(f"export {k}={_shell_quote(v)}\n" for k, v in env.items())
    )
    elapsed = time.monotonic() - started
    print(
        f"meterhouse stack is up in {elapsed:.0f}s\n"
        f"  Airflow UI + REST API: {cfg.url}   login: {USERNAME} / {PASSWORD}\n"
        f"  local S3 (moto):       {cfg.s3_endpoint}   bucket: {BUCKET}, landing: {LANDING}\n"
        f"{gateway}"
        f"  warehouse:             {cfg.warehouse}\n"
        f"  logs:                  {cfg.home / 'logs'}\n"
        f"  Airflow CLI:           .venv/bin/python scripts/stack.py airflow -- dags list\n"
        f"  stop:                  make down",
        flush=True,
    )
    return api


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


# -- down -------------------------------------------------------------------------------------


def down(cfg: StackConfig, *, quiet: bool = False, grace_s: float = 20) -> int:
    """Stop every process `up` started (the session leaders and their sessions). Returns count."""
    pids = _read_pids(cfg.home)
    sessions = set(pids.values())
    members = _session_members(sessions)
    # Airflow components first (they finish their work and exit), the S3 server last.
    order = [n for n in pids if n != "s3"] + [n for n in pids if n == "s3"]
    for name in order:
        try:
            os.killpg(pids[name], signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _session_members(sessions):
        time.sleep(0.5)
    for pid in _session_members(sessions):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    _reap(list(sessions))
    left = _session_members(sessions)
    if left:
        raise SystemExit(f"processes still running after SIGKILL: {left}")
    _pids_file(cfg.home).unlink(missing_ok=True)
    if not quiet:
        print(f"stopped {len(members)} processes ({', '.join(order) or 'none running'})")
    return len(members)


def status(cfg: StackConfig) -> Iterator[str]:
    pids = _read_pids(cfg.home)
    for name, pid in pids.items():
        alive = bool(_session_members({pid}))
        yield f"{name:14} pid {pid:<8} {'running' if alive else 'stopped'}"
    if not pids:
        yield "no stack started from " + str(cfg.home)


def run_airflow_cli(cfg: StackConfig, args: Sequence[str], timeout_s: float = 600) -> int:
    """`airflow ARGS` against the stack's metadata DB and settings.

    SQLite lets one writer in at a time and refuses a second one ("database is locked")
    when it waited too long or its read snapshot went stale, so `backfill create` fails now
    and then while the scheduler writes. Such a failure can leave a half-made backfill behind
    (see ApiClient.create_backfill): a try after it may hear "Another backfill is running"
    until the scheduler has completed that one. Both are tried again until `timeout_s`.
    """
    argv = [_venv_bin("airflow"), *args]
    env = _child_env(airflow_env(cfg))
    if list(args[:2]) != ["backfill", "create"]:
        return subprocess.call(argv, env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout_s
    locked = False
    while True:
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        output = done.stdout + done.stderr
        locked = "database is locked" in output or (
            locked and "Another backfill is running" in output
        )
        if done.returncode == 0 or not locked or time.monotonic() > deadline:
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            return done.returncode
        print("metadata DB busy (SQLite), trying again in 5s", file=sys.stderr)
        time.sleep(5)


def _config_from_env() -> StackConfig:
    return StackConfig(
        home=Path(os.environ.get("METERHOUSE_STACK_HOME", DEFAULT_HOME)),
        api_port=int(os.environ.get("METERHOUSE_AIRFLOW_PORT", DEFAULT_API_PORT)),
        s3_port=int(os.environ.get("METERHOUSE_S3_PORT", DEFAULT_S3_PORT)),
        gateway_port=int(os.environ.get("METERHOUSE_GATEWAY_PORT", DEFAULT_GATEWAY_PORT)),
        warehouse=Path(os.environ.get("METERHOUSE_WAREHOUSE", DEFAULT_WAREHOUSE)).resolve(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the stack and seed sample exports")
    sub.add_parser("down", help="stop everything `up` started")
    sub.add_parser("status", help="list the stack's processes")
    sub.add_parser("init", help="(internal) migrate the metadata DB, create the pool and login")
    sub.add_parser("seed", help="create the bucket and write the sample exports (AWS_* env)")
    sub.add_parser("bucket", help="create the bucket only, no samples (AWS_* env)")
    cli = sub.add_parser("airflow", help="run the airflow CLI against the stack")
    cli.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cfg = _config_from_env()
    if args.command == "up":
        up(cfg)
    elif args.command == "down":
        down(cfg)
    elif args.command == "status":
        print("\n".join(status(cfg)))
    elif args.command == "init":
        init_airflow()
    elif args.command == "seed":
        n = seed_samples(
            os.environ["AWS_ENDPOINT_URL"],
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
        )
        print(f"seeded {n} sample export objects into {LANDING}")
    elif args.command == "bucket":
        ensure_bucket(
            os.environ["AWS_ENDPOINT_URL"],
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
        )
        print(f"bucket {BUCKET} is there (landing {LANDING})")
    else:
        return run_airflow_cli(cfg, args.args[1:] if args.args[:1] == ["--"] else args.args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
