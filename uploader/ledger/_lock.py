"""One writer per ledger: an exclusive ``flock`` on a lock file beside it.

Two runs appending to one ledger send batches twice (each thinks the other's batches are still
to do) and interleave their records. A nightly job makes that easy: Airflow retries a task
while the first attempt still runs as a zombie. So every command that writes a ledger holds
``ledger.lock`` in the ledger's directory from before its check pass to its last record; a
second one stops at once with "another run (pid N, started …) is using this ledger".

A hold that ends with no ledger written (the input was refused, the rate store unreachable…)
removes what it made: the lock file, and the directories it created for it once they are
empty, so a refused run leaves no run directory behind that ``--keep-runs`` would never
remove (it holds no ledger).

The lock itself (released by the kernel when the holder dies, re-entrant within a process) is
``uploader._flock``'s; this module names the file and words the errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from uploader import _flock
from uploader.errors import LedgerError

__all__ = ["LOCK_NAME", "acquire", "held_if_free", "hold", "release"]

LOCK_NAME = "ledger.lock"


def _lock_path(ledger: Path) -> Path:
    return ledger.resolve().with_name(LOCK_NAME)


def acquire(ledger: Path) -> None:
    """Take the lock of ``ledger`` (raises ``LedgerError`` naming the holder)."""
    path = _lock_path(ledger)
    try:
        _flock.acquire(path)
    except _flock.LockBusy as busy:
        raise LedgerError(
            f"another run ({busy.holder}) is using this ledger ({ledger}); wait for it to end, "
            "or stop it, then run again"
        ) from None
    except OSError as exc:
        raise LedgerError(
            f"ledger {ledger}: cannot create its lock {path} ({exc.strerror})"
        ) from exc


def release(ledger: Path) -> None:
    """Give one hold back; the last one unlocks."""
    _flock.release(_lock_path(ledger))


@contextlib.contextmanager
def hold(ledger: Path) -> Iterator[None]:
    """``with hold(ledger):`` the lock for the block; when the block leaves no ledger, the
    lock file and the directories this hold made are removed (those still empty)."""
    path = _lock_path(ledger)
    made_lock = not path.exists()
    made_dirs = _missing_dirs(path.parent)
    acquire(ledger)
    try:
        yield
    finally:
        unused = made_lock and not ledger.exists()
        _flock.release(path, remove=unused)
        if unused:
            for directory in made_dirs:  # deepest first; one holding anything stays
                try:
                    directory.rmdir()
                except OSError:
                    break


def _missing_dirs(directory: Path) -> list[Path]:
    """``directory`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing


@contextlib.contextmanager
def held_if_free(ledger: Path) -> Iterator[bool]:
    """``with held_if_free(ledger) as free:`` the lock for the block if no one holds it (this
    process included: its own hold is another open file); ``free`` is False, and nothing is
    held, when someone does. A ledger without a lock file is free (and gets none)."""
    with _flock.held_if_free(_lock_path(ledger)) as free:
        yield free
