"""Terminal meterhouse errors fail an Airflow task at once, without retries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from etl.errors import TerminalError

P = ParamSpec("P")
R = TypeVar("R")


def fail_on_terminal_error(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a task callable: a `TerminalError` becomes an `AirflowFailException`.

    A terminal error (a bad date range, rate card or file; a reconciliation difference) fails
    the same way on every retry, so the task fails now, with the error's own message; every
    other exception is left to the task's retries. Put it under `@task`: the wrapper keeps the
    callable's name, signature and annotations, which Airflow reads for the task id, the
    context arguments and `multiple_outputs`.
    """

    @functools.wraps(func)
    def fail_fast(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TerminalError as exc:
            raise AirflowFailException(str(exc)) from exc

    return fail_fast
