"""One writer per ledger: an exclusive ``flock`` on a lock file beside it.

Two runs appending to one ledger send batches twice (each thinks the other's batches are still
to do) and interleave their records. A nightly job makes that easy: Airflow retries a task
while the first attempt still runs as a zombie. So every command that writes a ledger holds
``ledger.lock`` in the ledger's directory from before its check pass to its last record; a
second one stops at once with "another run (pid N, started …) is using this ledger".

``flock`` belongs to the open file, so the kernel releases it when the holder dies, however it
dies: a lock left by a dead process is free, and there is nothing to clean up. Within one
process the lock is re-entrant (``upload --wait`` polls statuses while it sends): each
``hold`` of a path this process already holds only counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from uploader._writable import make_dirs
from uploader.errors import LedgerError

__all__ = ["LOCK_NAME", "acquire", "held_if_free", "hold", "release"]

LOCK_NAME = "ledger.lock"

_held: dict[Path, tuple[int, int]] = {}  # resolved lock path → (fd, holds)
_guard = threading.Lock()


def _lock_path(ledger: Path) -> Path:
    return ledger.resolve().with_name(LOCK_NAME)


def acquire(ledger: Path) -> None:
    """Take the lock of ``ledger`` (raises ``LedgerError`` naming the holder)."""
    path = _lock_path(ledger)
    with _guard:
        if path in _held:
            fd, holds = _held[path]
            _held[path] = (fd, holds + 1)
            return
        try:
            make_dirs(path.parent)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(
                f"ledger {ledger}: cannot create its lock {path} ({exc.strerror})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LedgerError(
                f"another run ({holder}) is using this ledger ({ledger}); wait for it to end, "
                "or stop it, then run again"
            ) from None
        _describe_self(fd)
        _held[path] = (fd, 1)


def release(ledger: Path) -> None:
    """Give one hold back; the last one unlocks."""
    path = _lock_path(ledger)
    with _guard:
        if path not in _held:
            return
        fd, holds = _held[path]
        if holds > 1:
            _held[path] = (fd, holds - 1)
            return
        del _held[path]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the holder's note goes with the hold
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def hold(ledger: Path) -> Iterator[None]:
    """``with hold(ledger):`` the lock for the block."""
    acquire(ledger)
    try:
        yield
    finally:
        release(ledger)


@contextlib.contextmanager
def held_if_free(ledger: Path) -> Iterator[bool]:
    """``with held_if_free(ledger) as free:`` the lock for the block if no one holds it (this
    process included: its own hold is another open file); ``free`` is False, and nothing is
    held, when someone does. A ledger without a lock file is free (and gets none)."""
    path = _lock_path(ledger)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield True
        return
    except OSError:
        yield False  # cannot even look: leave it alone
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _describe_self(fd: int) -> None:
    """Write who holds the lock, for the message a second run prints."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = os.pread(fd, 200, 0).decode("utf-8").strip()
        if text:
            return text
    return "pid unknown"
