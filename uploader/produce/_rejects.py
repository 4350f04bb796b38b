"""The rejects file: every row that was not sent, where it came from and why (CSV)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

from uploader._writable import make_dirs
from uploader.errors import ConfigError, LedgerError, RecordError, spell

__all__ = ["REJECTS_COLUMNS", "RejectLimit", "RejectsWriter", "read_rejects"]

REJECTS_COLUMNS = ("source", "row", "id", "reason")


@dataclass(frozen=True, slots=True)
class RejectLimit:
    """``--max-rejects N|P%``: the most rejected rows a run may have and still succeed, as a
    count or as a percentage of the rows read. Checked when the run ends (rejects are found
    while producing, after sending has started): the good rows are sent either way, and a
    run over the limit exits 1, so a nightly job fails loudly on a broken export."""

    text: str  # as given, for messages

    def __post_init__(self) -> None:
        ceiling = 100.0 if self.percent else float("inf")
        try:
            valid = 0 <= self.value <= ceiling  # False for nan too
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f"$max_rejects {self.text}: expected a number of rows (e.g. 100) or a "
                "percentage of the rows read (e.g. 0.5%)",
                settings=("max_rejects",),
            )

    @property
    def percent(self) -> bool:
        return self.text.endswith("%")

    @property
    def value(self) -> float:
        """The number of rows, or the percentage; ``ValueError`` when it is not a number."""
        return float(self.text[:-1]) if self.percent else int(self.text)

    def exceeded(self, rejected: int, read: int) -> bool:
        if self.percent:
            return rejected * 100 > self.value * read
        return rejected > self.value

    def message(self, rejected: int, rejects_file: str) -> str:
        rows = "row" if rejected == 1 else "rows"
        over = spell("rejected, over $max_rejects", "max_rejects")
        return (
            f"{rejected:,} {rows} {over} {self.text}: the other rows were sent; see {rejects_file}"
        )


class RejectsWriter:
    """Appends rejected rows to a CSV file (``source,row,id,reason``), header written once.

    Used as a context manager; entering checks the file can be written, before anything is
    sent; a new file gets its header at once, and a clean run leaves only the header (which
    says "nothing was rejected" explicitly). What an existing file held (an earlier run of the
    same ledger) stays until this run's first reject or clean end: a run refused before it
    began — the ledger exists without resume, the input changed on resume, the input is
    missing — leaves the earlier run's rejects as they were, and removes a file it made that
    holds no reject. The header and every write are flushed and fsync'd, as the ledger is:
    after a crash the file is readable and holds every reject counted so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[bytes] | None = None
        self._started = False  # the header of this run is written (what was there is gone)
        self._created = False  # entering made the file: a refused run without rejects removes it

    def __enter__(self) -> RejectsWriter:
        try:
            make_dirs(self.path.parent)
            self._created = not self.path.exists()
            self._handle = self.path.open("ab")  # writable? without truncating it yet
            if self._created:
                self._start()
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
        if exc_type is None and not self._started and self._handle is not None:
            try:
                self._start()
            except OSError as error:
                self.close()
                raise LedgerError(
                    f"rejects file {self.path}: cannot write ({error.strerror})"
                ) from None
        refused_new = exc_type is not None and self._created and not self.count
        self.close()
        if refused_new:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _start(self) -> None:
        """Drop what an earlier run wrote and write the header: this run's file begins."""
        assert self._handle is not None
        self._handle.truncate(0)
        self._handle.write((",".join(REJECTS_COLUMNS) + "\n").encode())
        self._sync()
        self._started = True

    def write(self, rows: pl.DataFrame) -> None:
        """Append ``rows`` (columns ``source, row, id, reason``)."""
        if self._handle is None:
            raise RuntimeError("RejectsWriter used outside its context")
        try:
            if not self._started:
                self._start()
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
