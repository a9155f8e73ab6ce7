"""DAG-level failure alerting for meterhouse DAGs, configured from the environment at call time.

`on_dag_failure` is every meterhouse DAG's `on_failure_callback` (Airflow runs DAG callbacks in
the DAG processor). It always logs one `alert ...` line naming the run, the failed task and
every failed source file with its reason, then, when configured:

- METERHOUSE_ALERT_WEBHOOK: POSTs the alert as JSON to that URL (Slack-compatible `text`
  field plus structured fields), e.g. an incoming webhook of your chat or paging tool;
- METERHOUSE_ON_FAILURE: calls your own callable `package.module:function` with the context.

Nothing here runs at DAG-parse time.
"""

from __future__ import annotations

import importlib
import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from etl.settings import AirflowSettings

log = logging.getLogger("meterhouse.alerts")


def _failed_files(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `report` task's failed files of this run (best effort: the alert must go out anyway)."""
    ti = context.get("ti")
    if ti is None:
        return []
    try:
        summary = ti.xcom_pull(task_ids="report", key="return_value")
    except Exception as exc:  # XCom is an enrichment; never lose the alert over it
        log.warning("alert could not read the run summary: %s", exc)
        return []
    if not isinstance(summary, Mapping):
        return []
    return [dict(f) for f in summary.get("failed_files") or []]


def build_alert(context: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-dict alert from an Airflow callback context."""
    dag = context.get("dag")
    ti = context.get("ti")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or "?"
    run_id = context.get("run_id") or getattr(ti, "run_id", None) or "?"
    files = _failed_files(context)
    base = AirflowSettings.from_env().ui_base_url
    alert: dict[str, Any] = {
        "dag_id": dag_id,
        "run_id": run_id,
        "reason": context.get("reason") or "failed",
        "failed_task": getattr(ti, "task_id", None),
        "failed_files": files,
        "url": f"{base}/dags/{dag_id}/runs/{run_id}" if base else None,
    }
    lines = [f"meterhouse: {dag_id} run {run_id} failed ({alert['reason']})"]
    if alert["failed_task"]:
        lines[0] += f" at task {alert['failed_task']}"
    lines += [f"- {f.get('uri')}: {f.get('error')}" for f in files]
    if alert["url"]:
        lines.append(str(alert["url"]))
    alert["text"] = "\n".join(lines)
    return alert


def _user_callback(spec: str) -> Callable[[Mapping[str, Any]], Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"METERHOUSE_ON_FAILURE={spec!r} must look like package.module:function")
    func = getattr(importlib.import_module(module), name)
    if not callable(func):
        raise TypeError(f"METERHOUSE_ON_FAILURE={spec!r} is not callable")
    return func  # type: ignore[no-any-return]


def post_webhook(url: str, alert: Mapping[str, Any], timeout_s: float = 10.0) -> int:
    """POST the alert as JSON; returns the HTTP status."""
    body = json.dumps(alert, default=str).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        return int(response.status)


def on_dag_failure(context: Mapping[str, Any]) -> None:
    """`on_failure_callback` of meterhouse DAGs: log the alert, then the configured sinks."""
    alert = build_alert(context)
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
    if url := config.alert_webhook:
        try:
            status = post_webhook(url, alert)
            log.info("alert sent to webhook status=%d", status)
        except OSError as exc:
            log.error("alert webhook failed: %s", exc)
    if spec := config.on_failure:
        _user_callback(spec)(context)
