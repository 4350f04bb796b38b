"""Creating the directories a command writes into, with a cause the user can act on; making
a written file durable (fsync of the file, then of its directory once renamed)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["fsync_dir", "fsync_file", "make_dirs", "replace_durably"]


def make_dirs(directory: Path) -> None:
    """``mkdir -p directory``. A regular file where a directory is expected makes ``mkdir``
    say "File exists" when it is the last part of the path, which reads as if the path were
    fine: say "Not a directory" whichever part it is."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory)
        ) from None


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the names in ``path`` durable (a rename is only on disk once its directory is)."""
    fsync_file(path)  # O_RDONLY on a directory is how POSIX fsyncs one


def replace_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old file or the new one, never a
    part: written to ``PATH.tmp``, fsync'd, renamed, the directory fsync'd. One writer at a
    time (the caller holds a lock): the temporary name is fixed."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    fsync_file(tmp)
    tmp.replace(path)
    fsync_dir(path.parent)
