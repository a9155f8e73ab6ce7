"""The production shape for real: Airflow's CeleryExecutor with a Redis broker and two workers,
Postgres as the metadata DB and as the DuckLake catalog, the data files in S3.

Its own stack (scripts/stack.py `up`, as `make up` does, with the executor, databases and
warehouse backend of the production compose file, stack.production_env): Debian's redis-server
and Postgres on 127.0.0.1 (tests/redis_server.py, tests/postgres_server.py; `make redis-deps
postgres-deps`), moto's S3 server, an API server, scheduler, DAG processor, triggerer and two
`airflow celery worker` processes. A manual `usage_ingest` run loads two sample days from the
landing prefix; the DuckLake must then hold exactly what a single writer loading the same
objects into the DuckDB file holds, each event id once; every task of the run must have been
executed by a Celery worker, and both workers must have taken part. (Reruns, forced or not,
are the subject of the DuckLake integration tests.) Every process started here is stopped by
its process id at the end of the module (the stack's sessions, Redis, Postgres); the file name
sorts first in tests/e2e, so this stack is down before the shared live stack starts.

Only the test's runs run: no scheduled runs (AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False), and
`usage_rollup` (started by the ingest's Asset event) is paused: the run under test is the ingest.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.live_stack import (
    ALL_HEALTHY,
    ARTIFACTS,
    LiveStack,
    health,
    sample_exports,
    sample_keys,
)
from tests.ports import free_port
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

FIRST, LAST = date(2026, 9, 1), date(2026, 9, 2)
WORKERS = 2
DATA_PATH = "s3://usage/lake/"


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    from stack import StackConfig, down, production_env, up

    home = tmp_path_factory.mktemp("celery-stack")
    started = time.monotonic()
    postgres = PostgresServer().start()
    redis: RedisServer | None = None
    cfg: Any = None
    try:
        redis = RedisServer().start()
        postgres.create_database("airflow")
        catalog = postgres.create_database("meterhouse")
        # SQLAlchemy URL of the same database (psycopg 3, the driver the project ships)
        metadata_url = f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/airflow"
        cfg = StackConfig(
            home=home,
            api_port=free_port(),
            s3_port=free_port(),
            gateway_port=free_port(),
            warehouse=home / "data" / "warehouse.duckdb",
            celery_workers=WORKERS,
            extra_env=(
                *production_env(
                    metadata_url=metadata_url,
                    broker_url=redis.url(0),
                    ducklake_catalog=catalog,
                    ducklake_data_path=DATA_PATH,
                ).items(),
                # psycopg 3 is async too (Airflow would derive asyncpg, not installed here)
                ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", metadata_url),
                # only the runs the test triggers: no scheduled run of the current interval
                # (it would hold the manual runs back, max_active_runs=1)
                ("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False"),
                ("METERHOUSE_SENSOR_POKE_INTERVAL", "5"),
                ("METERHOUSE_SENSOR_TIMEOUT", "120"),
            ),
        )
        api = up(cfg, timeout_s=300)
        api.patch("/api/v2/dags/usage_rollup", {"is_paused": True})
        print(f"\ncelery stack up in {time.monotonic() - started:.0f}s at {cfg.url}")
        yield LiveStack(cfg, api)
    finally:
        try:
            if cfg is not None:
                stopping = time.monotonic()
                stopped = down(cfg, quiet=True)
                print(
                    f"celery stack down: {stopped} processes in {time.monotonic() - stopping:.0f}s"
                )
                shutil.copytree(home / "logs", ARTIFACTS / "celery-stack-logs", dirs_exist_ok=True)
        finally:
            if redis is not None:
                redis.stop()
            postgres.stop()


def _lake_env(stack: LiveStack) -> dict[str, str]:
    from stack import airflow_env

    env = airflow_env(stack.cfg)
    names = ("AWS_", "METERHOUSE_WAREHOUSE", "METERHOUSE_DUCKLAKE_", "METERHOUSE_LAKE")
    return {k: v for k, v in env.items() if k.startswith(names)}


QUERIES = {
    "stored": "SELECT event_id, source_uri, quantity FROM meter_events ORDER BY ALL",
    "duplicates": "SELECT event_id, source_uri, duplicate_of_uri FROM duplicate_events ORDER BY ALL",
    "ledger": """SELECT source_uri, status, rows_in, events_loaded, duplicates, rejected
                 FROM ingest_ledger ORDER BY source_uri""",
}


@contextlib.contextmanager
def _warehouse_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[None]:
    """This process's environment with exactly `env`'s warehouse settings."""
    with monkeypatch.context() as m:
        for name in ("METERHOUSE_WAREHOUSE_BACKEND", "METERHOUSE_DUCKLAKE_CATALOG"):
            m.delenv(name, raising=False)
        for name, value in env.items():
            m.setenv(name, value)
        yield


def _read(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, list[Any]]:
    from etl.settings import Settings
    from etl.warehouse import Warehouse

    with _warehouse_env(monkeypatch, env):
        settings = Settings.from_env()
        wh = Warehouse(settings.warehouse_path, settings.lake_path, ducklake=settings.ducklake)
        return {name: wh.query_published(sql)[1] for name, sql in QUERIES.items()}


def _single_writer_reference(
    stack: LiveStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prefixes: list[str]
) -> dict[str, list[Any]]:
    """The same objects loaded by one in-process writer into a DuckDB file."""
    from etl.jobs.ingest import ingest
    from etl.settings import Settings

    env = {
        **{k: v for k, v in _lake_env(stack).items() if k.startswith("AWS_")},
        "METERHOUSE_WAREHOUSE": str(tmp_path / "reference.duckdb"),
        "METERHOUSE_LAKE": str(tmp_path / "reference-lake"),
    }
    with _warehouse_env(monkeypatch, env):
        report = ingest(prefixes, Settings.from_env())
    assert {f.status for f in report.files} == {"loaded"}
    return _read(monkeypatch, env)


def _worker_logs(stack: LiveStack) -> dict[str, str]:
    logs = Path(stack.cfg.home) / "logs"
    return {
        f"worker-{n}": (logs / f"celery-worker-{n}.log").read_text(errors="replace")
        for n in range(1, WORKERS + 1)
    }


def _executed_by(logs: dict[str, str], run_id: str) -> dict[tuple[str, int], set[str]]:
    """(task_id, map_index) -> the workers whose log says they executed it in this run."""
    done: dict[tuple[str, int], set[str]] = {}
    for worker, text in logs.items():
        for line in text.splitlines():
            if "Executing workload in Celery" not in line or f"run_id='{run_id}'" not in line:
                continue
            task = re.search(r"task_id='([^']+)'", line)
            index = re.search(r"map_index=(-?\d+)", line)
            assert task and index, line
            done.setdefault((task[1], int(index[1])), set()).add(worker)
    return done


def test_celery_workers_load_the_landing_prefix_into_ducklake_exactly_once(
    celery_stack: LiveStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from etl.samples.amberflo import summarize_exports

    stack = celery_stack
    assert health(stack.api) == ALL_HEALTHY
    keys = sample_keys(FIRST, LAST)
    conf = {"start_date": FIRST.isoformat(), "end_date": LAST.isoformat()}
    started = time.monotonic()
    run_id = stack.trigger(conf)
    assert stack.wait_for_run(run_id, timeout_s=300) == "success", stack.task_states(run_id)
    print(f"ingest run on the Celery workers: {time.monotonic() - started:.0f}s")

    # Every task instance of the run was executed by a Celery worker.
    states = stack.task_states(run_id)
    assert set(states.values()) == {"success"}, states
    path = f"/api/v2/dags/usage_ingest/dagRuns/{quote(run_id, safe='')}/taskInstances"
    tis = stack.api.get(path)["task_instances"]
    executed = _executed_by(_worker_logs(stack), run_id)
    assert {(t["task_id"], t["map_index"]) for t in tis} <= set(executed), executed
    assert {t["task_id"] for t in tis} >= {"wait_for_exports", "discover", "ingest_batch"}
    per_worker = {w: sum(w in ws for ws in executed.values()) for w in _worker_logs(stack)}
    print(f"tasks per worker: {per_worker}")
    # Redis hands each queued task to the worker that has waited longest: both take part.
    assert all(per_worker.values()), per_worker

    # Exactly the landing objects of the two days, each event id once, as one writer would.
    lake = _read(monkeypatch, _lake_env(stack))
    uris = {f"s3://usage/{k}" for k in keys}
    assert {row[0] for row in lake["ledger"]} == uris
    assert {row[1] for row in lake["ledger"]} == {"loaded"}
    ids = [row[0] for row in lake["stored"]]
    assert len(ids) == len(set(ids))
    expected = summarize_exports([(k, d) for k, d in sample_exports() if k in set(keys)])
    assert len(ids) == expected.distinct_event_ids
    assert lake["duplicates"], "the sample days carry retried copies"
    prefixes = sorted({f"s3://usage/{k.rsplit('/', 1)[0]}/" for k in keys})
    started = time.monotonic()
    reference = _single_writer_reference(stack, monkeypatch, tmp_path, prefixes)
    print(f"single-writer reference on the DuckDB file: {time.monotonic() - started:.0f}s")
    assert lake == reference
