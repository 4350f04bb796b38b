"""Creating the directories a command writes into, with a cause the user can act on."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["make_dirs"]


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
