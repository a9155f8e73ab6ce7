"""Observers: how a caller (the benchmark) learns where a job spends its time, without patching.

A job reports each step it runs (`Phase`) to the observer it was given; the default observer
does nothing. Steps of one file may run in a read-ahead thread while the warehouse loads the
chunk before, so an observer must accept reports from more than one thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Protocol


class Phase(StrEnum):
    """The steps of an ingest a job reports (the benchmark prints these names)."""

    DISCOVER = "discover"
    READ = "read"
    CHECKSUM = "checksum"
    DECOMPRESS = "decompress+sniff"
    PARSE = "parse"
    NORMALIZE = "normalize"
    VALIDATE = "validate (pandera)"
    PREPARE = "prepare"
    LOAD = "load (duckdb)"
    PUBLISH = "publish_lake"


class Observer(Protocol):
    """Told how long each step took."""

    def on_phase(self, phase: Phase, seconds: float, source_format: str | None) -> None:
        """`phase` ran for `seconds` on an object of `source_format` (None: not known yet, or
        not about one object). Called once per run of the step, from any thread."""


class NoObserver:
    """The default: nobody is listening."""

    def on_phase(self, phase: Phase, seconds: float, source_format: str | None) -> None:
        """Ignore the report."""


NO_OBSERVER: Observer = NoObserver()
"""The observer jobs use when none is passed in."""


def timed(
    observer: Observer, phase: Phase, source_format: str | None = None
) -> AbstractContextManager[None]:
    """A context manager that reports the time spent inside it as `phase` (also on errors)."""
    if isinstance(observer, NoObserver):
        return contextlib.nullcontext()
    return _timer(observer, phase, source_format)


@contextlib.contextmanager
def _timer(observer: Observer, phase: Phase, source_format: str | None) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        observer.on_phase(phase, time.perf_counter() - started, source_format)
