"""Exclusive, process-wide ``flock`` on a lock file: the one mechanism behind the ledger's lock
(``uploader.ledger._lock``) and the sync state's (``uploader.sync._state``).

``flock`` belongs to the open file, so the kernel releases it when the holder dies, however it
dies: a lock left by a dead process is free, and there is nothing to clean up. Within one
process a lock is re-entrant (``upload --wait`` polls statuses while it sends): each
``acquire`` of a path this process already holds only counts. The holder writes who it is
into the file, for the message a second process prints.

The callers word their own errors: ``acquire`` raises ``LockBusy`` (naming the holder) or the
``OSError`` of creating the file, and each caller says which ledger or state is in use.

``held`` is the other use: a short critical section (the daily row budget's read-count-write,
``uploader.send._row_budget``) that *waits* for the lock, on an open file of its own, so it
excludes other threads of this process as well as other processes.
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

__all__ = ["LockBusy", "acquire", "held", "held_if_free", "release"]

_held: dict[Path, tuple[int, int]] = {}  # lock path → (fd, holds)
_guard = threading.Lock()


class LockBusy(Exception):
    """Another process holds the lock; ``holder`` is its note ("pid N, started …")."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def acquire(path: Path) -> None:
    """Take the lock file ``path`` (a resolved path), creating it and its directory.

    Raises ``LockBusy`` when another process holds it, ``OSError`` when it cannot be created.
    """
    with _guard:
        if path in _held:
            fd, holds = _held[path]
            _held[path] = (fd, holds + 1)
            return
        make_dirs(path.parent)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise LockBusy(holder) from None
            except OSError:  # no locks on this file system: the caller's "cannot create" message
                os.close(fd)
                raise
            if _still_named(fd, path):
                break
            os.close(fd)  # its holder removed it while we waited: lock the file now named
        _describe_self(fd)
        _held[path] = (fd, 1)


def release(path: Path, *, remove: bool = False) -> None:
    """Give one hold of ``path`` back; the last one unlocks. ``remove``: the last one removes
    the file too, before it unlocks (``acquire`` then never keeps a lock on a removed file)."""
    with _guard:
        if path not in _held:
            return
        fd, holds = _held[path]
        if holds > 1:
            _held[path] = (fd, holds - 1)
            return
        del _held[path]
        if remove:
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the holder's note goes with the hold
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def held_if_free(path: Path) -> Iterator[bool]:
    """``with held_if_free(path) as free:`` the lock for the block if no one holds it (this
    process included: its own hold is another open file); ``free`` is False, and nothing is
    held, when someone does. A missing lock file is free (and none is created)."""
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


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """``with held(path):`` the lock for the block, waiting for whoever holds it (blocking:
    call it from a worker thread in async code). Not re-entrant: each use opens the file anew,
    and ``flock`` excludes every other open file, in this process too. Raises the ``OSError``
    of creating the file."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``: a holder that removed it (see
    ``release``) may have done so between our open and our lock."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _describe_self(fd: int) -> None:
    """Write who holds the lock, for the message a second process prints."""
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
