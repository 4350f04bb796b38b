"""The rejects file: every row that was not sent, where it came from and why (CSV)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

__all__ = ["REJECTS_COLUMNS", "RejectsWriter"]

REJECTS_COLUMNS = ("source", "row", "id", "reason")


class RejectsWriter:
    """Appends rejected rows to a CSV file (``source,row,id,reason``), header written once.

    Used as a context manager; the file is created on first use so a clean run leaves an
    empty file with only the header (which says "nothing was rejected" explicitly).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> RejectsWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("wb")
        self._handle.write((",".join(REJECTS_COLUMNS) + "\n").encode())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, rows: pl.DataFrame) -> None:
        """Append ``rows`` (columns ``source, row, id, reason``)."""
        if self._handle is None:
            raise RuntimeError("RejectsWriter used outside its context")
        rows.select(REJECTS_COLUMNS).write_csv(self._handle, include_header=False)
        self._handle.flush()
        self.count += rows.height

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
