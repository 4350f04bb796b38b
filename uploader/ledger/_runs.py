"""Run directories: ``runs/<UTC time>-<pid>/`` holds a run's ledger and its side files.

``upload`` makes one per run when no ``--ledger`` is given, so a nightly job leaves one a
night; ``prune_runs`` keeps the newest few, and ``latest_ledger`` finds the newest run for
the commands that read one. Only directories named as the uploader names them and holding a
ledger are ever removed: anything else under ``runs/`` is the user's.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from uploader.ledger import _lock as lock

__all__ = [
    "LEDGER_NAME",
    "RUNS_DIR",
    "Pruned",
    "latest_ledger",
    "new_run_ledger",
    "prune_runs",
    "run_stamp",
]

RUNS_DIR = Path("runs")
LEDGER_NAME = "ledger.jsonl"
# upload: <stamp>-<pid>[-shard-IofN]; demo: demo-<stamp>. The stamp sorts in time order.
_RUN_NAME = re.compile(r"(?:demo-)?(?P<stamp>\d{8}T\d{6}Z)(?:-\d+(?P<shard>-shard-\d+of\d+)?)?")
_STAMP = "%Y%m%dT%H%M%SZ"


def run_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime(_STAMP)


def new_run_ledger(root: Path = RUNS_DIR, *, shard: tuple[int, int] | None = None) -> Path:
    """The ledger of a new run: ``root/<UTC time>-<pid>/ledger.jsonl``; a shard's
    ``root/<UTC time>-<pid>-shard-IofN/``, so that the shards of one input started together
    (in containers, where every pid may be 1) never share a directory."""
    from uploader.produce._shard import shard_label

    suffix = "" if shard is None else f"-{shard_label(shard)}"
    return root / f"{run_stamp()}-{os.getpid()}{suffix}" / LEDGER_NAME


@dataclass(slots=True)
class Pruned:
    removed: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # path, why


def prune_runs(keep: int, current: Path, root: Path = RUNS_DIR) -> Pruned:
    """Remove the run directories under ``root`` the uploader made for the same shard as
    ``current`` (``-shard-IofN``; or unsharded, ``demo-`` runs included), but the ``keep``
    newest (``current``, this run's directory, counts as one and is never removed), and any
    whose ledger lock another run holds (it is in use: a resume, a status poll). A night of N
    shards is N directories: each shard prunes its own, never another's."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    mine = current.resolve()
    kind = _shard_of(current.name)
    runs = sorted(_uploader_runs(root), reverse=True)  # newest first
    older = [path for _, path in runs if path.resolve() != mine and _shard_of(path.name) == kind]
    pruned = Pruned()
    for path in older[keep - 1 :]:
        ledger = path / LEDGER_NAME
        with lock.held_if_free(ledger) as free:
            if not free:
                continue
            try:
                shutil.rmtree(path)
            except OSError as exc:
                pruned.failed.append((path, exc.strerror or str(exc)))
            else:
                pruned.removed.append(path)
    return pruned


def _shard_of(name: str) -> str | None:
    """A run directory's shard suffix (``-shard-1of3``); None: unsharded, or not the
    uploader's name (a --ledger directory of one's own prunes the unsharded runs)."""
    match = _RUN_NAME.fullmatch(name)
    return match["shard"] if match is not None else None


def _uploader_runs(root: Path) -> list[tuple[tuple[str, float], Path]]:
    """(sort key, directory) of each run directory the uploader made under ``root``."""
    found = []
    try:
        entries = list(root.iterdir())
    except OSError:  # no runs yet (or not a directory): nothing to prune
        return []
    for path in entries:
        match = _RUN_NAME.fullmatch(path.name)
        ledger = path / LEDGER_NAME
        if match is None or path.is_symlink() or not path.is_dir() or not ledger.is_file():
            continue
        found.append(((match["stamp"], ledger.stat().st_mtime), path))
    return found


def latest_ledger(root: Path = RUNS_DIR) -> Path | None:
    """The most recently written ``root/*/ledger.jsonl`` (any run directory, named or not)."""
    ledgers = [path for path in root.glob(f"*/{LEDGER_NAME}") if path.is_file()]
    if not ledgers:
        return None
    return max(ledgers, key=lambda path: (path.stat().st_mtime, path.name))
