"""The local spool: records that could not be delivered now, kept on disk until they are.

Layout of a spool directory (one per destination)::

    <client-id>.ndjson              records of one client, appended and fsynced; the client
                                    holds an exclusive lock on it while it runs
    dead-letter/<client-id>.ndjson  records the gateway rejected as bad ({"error", "record"}
                                    per line); kept for a person, never replayed

A client that starts claims every unlocked ``*.ndjson`` file (an exclusive, non-blocking lock,
so two clients never replay the same file), sends its records, and deletes the file only when
the destination acknowledged them all or they were spooled again in its own file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from meterhouse_client.record import MeterRecord

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("meterhouse_client")

DEAD_LETTER_DIR = "dead-letter"
SUFFIX = ".ndjson"


@dataclass
class ClaimedFile:
    """A spool file this process holds the lock of, with the records it could read."""

    path: Path
    handle: IO[str]
    records: list[MeterRecord]


class Spool:
    """Append-only, fsynced NDJSON files in `directory`; thread-safe."""

    def __init__(self, directory: Path, client_id: str) -> None:
        self.directory = directory
        self._client_id = client_id
        self._own_path = directory / f"{client_id}{SUFFIX}"
        self._own: IO[str] | None = None
        self._lock = threading.Lock()

    @property
    def own_path(self) -> Path:
        """This client's spool file (it exists once something was spooled)."""
        return self._own_path

    def append(self, records: list[MeterRecord], reason: str) -> None:
        """Append records to this client's spool file and fsync it before returning."""
        if not records:
            return
        with self._lock:
            if self._own is None:
                self._own = _open_locked(self._own_path)
            _append_fsynced(self._own, "".join(r.to_json() + "\n" for r in records))
        log.warning("spooled records=%d file=%s reason=%s", len(records), self._own_path, reason)

    def dead_letter(self, records: list[MeterRecord], errors: list[dict[str, Any]]) -> None:
        """Keep records the destination rejected as bad, each beside its error."""
        lines = "".join(
            '{"error":' + json.dumps(error) + ',"record":' + record.to_json() + "}\n"
            for record, error in zip(records, errors, strict=True)
        )
        self._write_dead_letters(lines, len(records))

    def dead_letter_lines(self, lines: list[str], path: Path) -> None:
        """Keep spool lines that cannot be read (a torn write) instead of dropping them."""
        error = json.dumps({"reason": f"unreadable line in spool file {path.name}"})
        text = "".join(
            '{"error":' + error + ',"line":' + json.dumps(line) + "}\n" for line in lines
        )
        self._write_dead_letters(text, len(lines))

    def _write_dead_letters(self, text: str, count: int) -> None:
        folder = self.directory / DEAD_LETTER_DIR
        path = folder / f"{self._client_id}{SUFFIX}"
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                _append_fsynced(handle, text)
            _fsync_dir(folder)
        log.error("dead-lettered records=%d file=%s", count, path)

    def claim_pending(self) -> Iterator[ClaimedFile]:
        """Spool files left by earlier clients that no running client holds, one at a time."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path == self._own_path:
                continue
            claimed = self._claim(path)
            if claimed is not None:
                yield claimed

    def _claim(self, path: Path) -> ClaimedFile | None:
        try:
            handle = path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return None  # replayed and deleted by another client meanwhile
        if not _try_lock(handle):
            handle.close()
            return None
        try:
            same = os.fstat(handle.fileno()).st_ino == path.stat().st_ino
        except FileNotFoundError:
            same = False
        if not same:  # deleted (and perhaps re-created) between open and lock
            handle.close()
            return None
        records: list[MeterRecord] = []
        unreadable: list[str] = []
        for line in handle.read().splitlines():
            if not line.strip():
                continue
            try:
                records.append(MeterRecord.from_json(line))
            except (ValueError, KeyError, TypeError):
                unreadable.append(line)
        if unreadable:
            self.dead_letter_lines(unreadable, path)
        return ClaimedFile(path=path, handle=handle, records=records)

    def release(self, claimed: ClaimedFile, *, delete: bool) -> None:
        """Delete (when every record is delivered or spooled again) and unlock a claimed file."""
        try:
            if delete:
                claimed.path.unlink(missing_ok=True)
                _fsync_dir(self.directory)
        finally:
            claimed.handle.close()

    def close(self) -> None:
        """Close (and so unlock) this client's spool file; the next client replays it."""
        with self._lock:
            if self._own is not None:
                self._own.close()
                self._own = None


def _open_locked(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a", encoding="utf-8")
    if not _try_lock(handle):  # only if another client took this client's id: never in practice
        handle.close()
        raise RuntimeError(f"spool file {path} is locked by another process")
    _fsync_dir(path.parent)
    return handle


def _append_fsynced(handle: IO[str], text: str) -> None:
    handle.write(text)
    handle.flush()
    os.fsync(handle.fileno())


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    # A new or removed directory entry is durable only once the directory itself is synced.
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
