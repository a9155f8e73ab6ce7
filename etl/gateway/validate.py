"""Checking requests with the batch path's rules, many requests per pass.

The batch rules are vectorized (polars): one pass over 5,000 records costs little more than
one over 500. So requests are not checked one by one: a single checker thread takes every
request that is waiting, checks all their lines in one pass of `batch_rules.check_lines`, and
hands each request its own verdict. Under load the passes grow by themselves; an idle gateway
checks a lone request at once (no waiting for company).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from etl.gateway.batch_rules import CheckedLines, check_lines

log = logging.getLogger("meterhouse.gateway")
T = TypeVar("T")

# One pass takes at most this many lines (bounds the pass's memory and latency).
MAX_PASS_LINES = 50_000


@dataclass(frozen=True)
class Verdict:
    """One request's share of a pass: its errors, customers and generated lines by index."""

    errors: dict[int, tuple[str, str]]
    customers: dict[int, str]
    generated: dict[int, bytes]


@dataclass
class _Job:
    lines: Sequence[bytes]
    future: Future[Verdict]


Checker = Callable[[bytes, datetime], CheckedLines]


def _bucket(values: dict[int, T], starts: Sequence[int]) -> list[dict[int, T]]:
    items = sorted(values.items())  # usually in order already: a linear pass
    keys = [key for key, _ in items]
    ends = [*starts[1:], (keys[-1] + 1) if keys else 0]
    out: list[dict[int, T]] = []
    for start, end in zip(starts, ends, strict=True):
        lo, hi = bisect.bisect_left(keys, start), bisect.bisect_left(keys, end)
        out.append({key - start: value for key, value in items[lo:hi]})
    return out


def split_verdict(checked: CheckedLines, sizes: Sequence[int]) -> list[Verdict]:
    """Cut a pass's verdict over concatenated requests back into one verdict per request."""
    starts = list(itertools.accumulate(sizes, initial=0))[:-1]
    return [
        Verdict(errors, customers, generated)
        for errors, customers, generated in zip(
            _bucket(checked.errors, starts),
            _bucket(checked.customers, starts),
            _bucket(checked.generated, starts),
            strict=True,
        )
    ]


class Validator:
    """A thread that checks queued requests in shared passes."""

    def __init__(self, check: Checker = check_lines, max_pass_lines: int = MAX_PASS_LINES) -> None:
        self._check = check
        self._max_pass_lines = max_pass_lines
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gateway-validator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, lines: Sequence[bytes]) -> Future[Verdict]:
        """Queue a request's lines; the future holds its verdict."""
        future: Future[Verdict] = Future()
        self._queue.put(_Job(lines, future))
        return future

    def _take(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, total, stopping = [first], len(first.lines), False
        while total < self._max_pass_lines:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stopping = True
                break
            jobs.append(job)
            total += len(job.lines)
        return jobs, stopping

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stopping = self._take(first)
            self._pass(jobs)
            if stopping:
                return

    def _pass(self, jobs: list[_Job]) -> None:
        body = b"\n".join(line for job in jobs for line in job.lines) + b"\n"
        try:
            checked = self._check(body, datetime.now(tz=UTC))
        except Exception as exc:  # a bug in a rule must fail these requests, not the thread
            log.exception("step=validate requests=%d error=%s", len(jobs), exc)
            for job in jobs:
                job.future.set_exception(exc)
            return
        for job, verdict in zip(
            jobs, split_verdict(checked, [len(j.lines) for j in jobs]), strict=True
        ):
            job.future.set_result(verdict)
