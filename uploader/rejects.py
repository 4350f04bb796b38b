"""The rejects file: every row that was not sent, where it came from and why (CSV)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

from uploader.errors import LedgerError, RecordError
from uploader.writable import make_dirs

__all__ = ["REJECTS_COLUMNS", "RejectsWriter", "read_rejects"]

REJECTS_COLUMNS = ("source", "row", "id", "reason")


class RejectsWriter:
    """Appends rejected rows to a CSV file (``source,row,id,reason``), header written once.

    Used as a context manager; the file is created on first use so a clean run leaves an
    empty file with only the header (which says "nothing was rejected" explicitly). The header
    and every write are flushed and fsync'd, as the ledger is: after a crash the file is
    readable and holds every reject counted so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> RejectsWriter:
        try:
            make_dirs(self.path.parent)
            self._handle = self.path.open("wb")
            self._handle.write((",".join(REJECTS_COLUMNS) + "\n").encode())
            self._sync()
        except OSError as exc:
            self.close()
            raise LedgerError(f"rejects file {self.path}: cannot write ({exc.strerror})") from None
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
        try:
            rows.select(REJECTS_COLUMNS).write_csv(self._handle, include_header=False)
            self._sync()
        except OSError as exc:
            raise RecordError(f"rejects file {self.path}: cannot write ({exc.strerror})") from None
        self.count += rows.height

    def _sync(self) -> None:
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with contextlib.suppress(OSError):  # a failed flush was reported by write()
                handle.close()


def read_rejects(path: Path) -> pl.DataFrame:
    """The rejects file as text columns. A missing or empty file (a run killed before its
    first write) means "none recorded yet": an empty frame, not an error."""
    empty = pl.DataFrame(schema=dict.fromkeys(REJECTS_COLUMNS, pl.String))
    try:
        if not path.exists() or path.stat().st_size == 0:
            return empty
        frame = pl.read_csv(path, infer_schema=False)
    except OSError as exc:
        raise LedgerError(f"{path}: cannot read ({exc.strerror})") from exc
    except pl.exceptions.PolarsError as exc:
        raise LedgerError(f"{path}: unreadable ({exc})") from exc
    if not set(REJECTS_COLUMNS) <= set(frame.columns):
        raise LedgerError(f"{path}: not a rejects file (expected {', '.join(REJECTS_COLUMNS)})")
    return frame
