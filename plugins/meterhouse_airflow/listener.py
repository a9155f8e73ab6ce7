"""Failure alerts for every meterhouse DAG: an Airflow listener on failed DAG runs.

`on_dag_run_failed` runs where a run is marked failed (the scheduler; the API server when
someone marks a run failed) for every DAG, and acts on the DAGs tagged `meterhouse` only. It
always logs one `alert ...` line naming the run, the failed task and every failed source file
with its reason (from the `report` task's result), then, when configured (read at call time):

- the Airflow connection `meterhouse_alerts` (METERHOUSE_ALERT_CONN_ID; type http): POSTs the
  alert as JSON (Slack-compatible `text` field plus structured fields) to the URL the
  connection names, e.g. an incoming webhook of your chat or paging tool (`webhook_url`).
  Without the connection nothing is posted; that is logged once per process;
- METERHOUSE_ON_FAILURE: calls your own callable `package.module:function` with a context
  mapping: `dag_id`, `run_id`, `reason`, `dag_run`, `ti` / `task_instance` (the failed task
  instance, or None) and `alert` (the dict that was posted).

The scheduler waits for the listener: the webhook gets `WEBHOOK_TIMEOUT_S` seconds at most.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl

from etl.settings import AirflowSettings
from meterhouse_airflow.config import DAG_TAG

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy.orm import Session

log = logging.getLogger("meterhouse.alerts")

#: The task whose result (`{"failed_files": [{"uri", "error"}, ...], ...}`) the alert lists.
REPORT_TASK_ID = "report"
WEBHOOK_TIMEOUT_S = 10.0


def build_alert(
    *,
    dag_id: str,
    run_id: str,
    reason: str | None,
    failed_task: str | None,
    failed_files: list[dict[str, Any]],
    ui_base_url: str = "",
) -> dict[str, Any]:
    """A plain-dict alert, with a readable `text` (one line per failed file, a link to the run)."""
    alert: dict[str, Any] = {
        "dag_id": dag_id,
        "run_id": run_id,
        "reason": reason or "failed",
        "failed_task": failed_task,
        "failed_files": failed_files,
        "url": f"{ui_base_url}/dags/{dag_id}/runs/{run_id}" if ui_base_url else None,
    }
    lines = [f"meterhouse: {dag_id} run {run_id} failed ({alert['reason']})"]
    if failed_task:
        lines[0] += f" at task {failed_task}"
    lines += [f"- {f.get('uri')}: {f.get('error')}" for f in failed_files]
    if alert["url"]:
        lines.append(str(alert["url"]))
    alert["text"] = "\n".join(lines)
    return alert


def webhook_url(conn: Any) -> str:
    """The URL an Airflow http connection names, as Airflow's HTTP hook reads one:

    - `host` holding a whole URL (`https://hooks.example.com/services/T0/B0/X`) is used as is;
    - else `schema` (http or https; default http, https for conn type `https`) :// `host`
      [: `port`], then the path: extra `endpoint` (JSON form), or what the URI form put into
      `schema` (`AIRFLOW_CONN_METERHOUSE_ALERTS='http://alerts.internal:8080/hook'`).
    """
    host = (conn.host or "").strip()
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    endpoint = str(extra.get("endpoint") or "").strip()
    if "://" in host:
        base = host
    else:
        if not host:
            raise ValueError(f"connection {conn.conn_id!r} has no host: give the webhook's URL")
        schema = (conn.schema or "").strip()
        scheme = schema.lower() if schema.lower() in ("http", "https") else None
        if scheme is None:
            scheme = "https" if conn.conn_type == "https" else "http"
            endpoint = endpoint or schema
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if endpoint:
        base = base.rstrip("/") + "/" + endpoint.lstrip("/")
    return base


_warned_missing: set[str] = set()


def alert_target(conn_id: str) -> str | None:
    """The webhook URL of the alert connection, or None (logged once) when there is none."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if conn_id not in _warned_missing:
            _warned_missing.add(conn_id)
            log.warning(
                "no Airflow connection %r: failure alerts are logged only, not posted; create "
                "it (type http, the webhook URL) to have them posted",
                conn_id,
            )
        return None
    return webhook_url(conn)


def post_webhook(url: str, alert: Mapping[str, Any], timeout_s: float = WEBHOOK_TIMEOUT_S) -> int:
    """POST the alert as JSON; returns the HTTP status."""
    body = json.dumps(alert, default=str).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        return int(response.status)


def user_callback(spec: str) -> Callable[[Mapping[str, Any]], Any]:
    """The callable named by METERHOUSE_ON_FAILURE (`package.module:function`)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"METERHOUSE_ON_FAILURE={spec!r} must look like package.module:function")
    func = getattr(importlib.import_module(module), name)
    if not callable(func):
        raise TypeError(f"METERHOUSE_ON_FAILURE={spec!r} is not callable")
    return func  # type: ignore[no-any-return]


def send_alert(alert: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """Log the alert, then POST it to the webhook and call the user's callable if configured."""
    log.error(
        "alert dag_id=%s run_id=%s reason=%s failed_task=%s failed_files=%d\n%s",
        alert["dag_id"],
        alert["run_id"],
        alert["reason"],
        alert["failed_task"],
        len(alert["failed_files"]),
        alert["text"],
    )
    config = AirflowSettings.from_env()
    if config.alert_webhook and "METERHOUSE_ALERT_WEBHOOK" not in _warned_missing:
        _warned_missing.add("METERHOUSE_ALERT_WEBHOOK")
        log.warning(
            "METERHOUSE_ALERT_WEBHOOK is no longer read: put the webhook URL into the Airflow "
            "connection %r (type http) instead",
            config.alert_conn_id,
        )
    try:
        url = alert_target(config.alert_conn_id)
    except ValueError as exc:
        log.error("alert webhook not usable: %s", exc)
        url = None
    if url:
        try:
            status = post_webhook(url, alert)
            log.info("alert sent to webhook status=%d", status)
        except OSError as exc:
            log.error("alert webhook failed: %s", exc)
    if spec := config.on_failure:
        user_callback(spec)(context)


def _is_meterhouse_dag(session: Session, dag_id: str) -> bool:
    from airflow.models.dag import DagTag
    from sqlalchemy import select

    query = select(DagTag.name).where(DagTag.dag_id == dag_id, DagTag.name == DAG_TAG)
    return session.execute(query).first() is not None


def _failed_task(session: Session, dag_id: str, run_id: str) -> TaskInstance | None:
    """The failed task instance that ended last, as in Airflow's own DAG failure callback."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    failed = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.state == TaskInstanceState.FAILED,
        )
    ).all()
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(failed, key=lambda ti: ti.end_date or oldest, default=None)


def _failed_files(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The `report` task's failed files of this run (best effort: the alert must go out anyway)."""
    from airflow.models.xcom import XCOM_RETURN_KEY, XComModel

    try:
        query = XComModel.get_many(
            run_id=run_id,
            dag_ids=dag_id,
            task_ids=REPORT_TASK_ID,
            key=XCOM_RETURN_KEY,
            limit=1,
        )
        stored = session.scalars(query).first()
        summary = XComModel.deserialize_value(stored) if stored is not None else None
    except Exception as exc:  # XCom is an enrichment; never lose the alert over it
        log.warning("alert could not read the run summary: %s", exc)
        return []
    if not isinstance(summary, Mapping):
        return []
    return [dict(f) for f in summary.get("failed_files") or []]


def _alert(dag_run: DagRun, dag_id: str, run_id: str, msg: str) -> None:
    from airflow.utils.session import create_session

    # A session of its own: the caller's transaction (which just marked the run failed) stays
    # untouched; everything read here (tags, task states, XCom) was committed before.
    with create_session(scoped=False) as session:
        if not _is_meterhouse_dag(session, dag_id):
            return
        ti = _failed_task(session, dag_id, run_id)
        alert = build_alert(
            dag_id=dag_id,
            run_id=run_id,
            reason=msg,
            failed_task=ti.task_id if ti is not None else None,
            failed_files=_failed_files(session, dag_id, run_id),
            ui_base_url=AirflowSettings.from_env().ui_base_url,
        )
        context = {
            "dag_id": dag_id,
            "run_id": run_id,
            "reason": alert["reason"],
            "dag_run": dag_run,
            "ti": ti,
            "task_instance": ti,
            "alert": alert,
        }
        send_alert(alert, context)


@hookimpl
def on_dag_run_failed(dag_run: DagRun, msg: str) -> None:
    """Alert on a failed run of a meterhouse DAG (Airflow listener hook).

    The alert is made on a thread of its own, which the caller waits for. Airflow's scoped ORM
    session is one per thread, and reading the alert connection through Airflow's metastore
    commits and closes the scoped session of the thread it runs in: in the scheduler, the one
    that holds this run, whose objects would be detached (the scheduler's loop then fails on
    them, restarts and fails the same run again)."""
    from airflow import settings

    dag_id, run_id = dag_run.dag_id, dag_run.run_id
    failures: list[BaseException] = []

    def run() -> None:
        try:
            _alert(dag_run, dag_id, run_id, msg)
        except BaseException as exc:
            failures.append(exc)
        finally:
            if settings.Session is not None:
                settings.Session.remove()  # this thread's own scoped session

    thread = threading.Thread(target=run, name="meterhouse-alert", daemon=True)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
