"""Whether the published lake is behind the warehouse.

A writer puts a marker file in the lake before it changes the warehouse and holds a file lock
on it while it works; it removes the marker only once everything the warehouse changed is
published. So a marker nobody holds means a run changed the warehouse and stopped before
publishing (a full disk, a crash): readers of the lake then say so instead of answering from a
lake that lacks those changes. A marker that a writer holds is a load in progress, which the
published read path is made to serve (it sees each file before or after a batch).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

MARKER = "_unpublished.json"
"""The marker's name inside the lake folder."""


class PublishMarker:
    """The marker a writer holds for the length of its connection."""

    def __init__(self, lake: Path) -> None:
        self.path = lake / MARKER
        self._fd: int | None = None

    def hold(self) -> None:
        """Create the marker (or take over a stale one) and lock it: from now on the lake
        counts as behind until `release(current=True)`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # A reader holds a shared lock only for a moment.
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        stale = _read(fd)
        if not stale:
            started = datetime.now(tz=UTC).isoformat(timespec="seconds")
            self._write({"since": started, "reason": "a run changed the warehouse"})

    def release(self, *, current: bool, error: str | None = None) -> None:
        """Drop the lock; remove the marker if the lake is `current`, else leave it with the
        `error` that stopped the run (best effort: a full disk may refuse even that)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if current:
                self.path.unlink(missing_ok=True)
            elif error is not None:
                with contextlib.suppress(OSError):
                    self._write({**_read(fd), "reason": error}, fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, state: dict[str, str], fd: int | None = None) -> None:
        fd = self._fd if fd is None else fd
        assert fd is not None
        data = json.dumps(state).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _read(fd: int) -> dict[str, str]:
    try:
        data = os.pread(fd, 65536, 0)
        state = json.loads(data) if data else {}
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in state.items()} if isinstance(state, dict) else {}


def lake_behind(lake: Path) -> str | None:
    """Why the lake is behind the warehouse (a marker no writer holds), or None: no marker, or
    a writer at work (the lake is then the last published state, which readers may use)."""
    try:
        fd = os.open(lake / MARKER, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        # The writer may have removed it after we opened it: then the lake is current.
        if os.fstat(fd).st_nlink == 0:
            return None
        state = _read(fd)
        since = state.get("since")
        reason = state.get("reason") or "a run changed the warehouse"
        return f"{reason}; not published since {since}" if since else reason
    finally:
        os.close(fd)
