"""fail_on_terminal_error: terminal errors fail the task at once, the rest are left to retries."""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from etl.errors import IngestFailed, SourceChanged, TerminalError
from etl.jobs.rollup import ReconciliationError
from meterhouse_airflow import ingest_tasks, rollup_tasks
from meterhouse_airflow.errors import fail_on_terminal_error


@pytest.mark.parametrize(
    "error",
    [TerminalError("bad range"), IngestFailed("1 of 2 files failed"), ReconciliationError("off by 1")],
)
def test_a_terminal_error_fails_the_task_with_its_message(error: TerminalError) -> None:
    @fail_on_terminal_error
    def step() -> None:
        raise error

    with pytest.raises(AirflowFailException) as raised:
        step()
    assert str(raised.value) == str(error)
    assert raised.value.__cause__ is error


def test_other_errors_pass_through_for_retries() -> None:
    @fail_on_terminal_error
    def step() -> None:
        raise SourceChanged("s3://usage/a.csv changed while reading")

    with pytest.raises(SourceChanged, match="changed while reading"):
        step()


def test_the_result_passes_through() -> None:
    @fail_on_terminal_error
    def step(x: int, params: dict[str, int] | None = None) -> int:
        return x + (params or {}).get("y", 0)

    assert step(1, params={"y": 2}) == 3


@pytest.mark.parametrize(
    "func",
    [ingest_tasks.discover, ingest_tasks.check_failures, rollup_tasks.load_rate_card,
     rollup_tasks.plan_days, rollup_tasks.rebuild],
)
def test_a_wrapped_task_looks_like_the_callable_to_airflow(func: object) -> None:
    # Airflow reads the task id from the name, the context arguments from the signature and
    # multiple_outputs from the return annotation: the wrapper must change none of them.
    original = func.__wrapped__  # type: ignore[attr-defined]
    wrapped, plain = task(func), task(original)
    assert func.__name__ == original.__name__  # type: ignore[attr-defined]
    assert inspect.signature(func) == inspect.signature(original)  # type: ignore[arg-type]
    assert wrapped.multiple_outputs == plain.multiple_outputs
