"""The daily row budget (``--daily-rows N``): never more than N rows sent for one client code in
any rolling 24 hours, by every process that shares the budget.

Older revisions of Adobe's bulk API pages cap the rows "sent in a day" at one million per client
(the current page names no cap; /work/shared/target-api.md). The budget is off by default.

Before a batch is sent its rows are *reserved*: in one atomic step, the rows counted in the last
24 h plus this batch's are checked against N and, if they fit, recorded with the time. So two
processes cannot both take the last room, and a batch retried is counted once (a reservation
is per batch, not per call). A batch that does not fit is not sent: the engine stops the run,
that batch and everything after it pending (exit 6), and says when enough room frees.

Counting is conservative: the rows of a batch that then failed, or that Target refused, stay
counted (Target may have counted them); only a batch that made no call at all (the run
stopped first) gives its reservation back.

Two stores, one ``RowBudget`` protocol:

- ``FileRowBudget`` (``--daily-rows-file PATH``): a JSON file of (UTC time, rows) entries per
  client code, on this machine's clock. Each reservation holds an exclusive ``flock`` on
  ``PATH.lock`` (``uploader._flock.held``: other processes and threads wait), reads, trims the
  entries older than 24 h, and replaces the file durably (``uploader._writable``), so a crash
  leaves the old file or the new one. It carries a schema version; another is refused.
- ``RedisRowBudget`` (with ``--rate-store``; ``uploader.send._redis_limit``): a sorted set per
  client code, one Lua script, on Redis's clock, over the rate limiter's connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from uploader import _flock
from uploader._writable import replace_durably
from uploader.errors import ConfigError, RecordError, spell

__all__ = [
    "BUDGET_FILE_SCHEMA",
    "DAY",
    "FileRowBudget",
    "Reservation",
    "RowBudget",
    "check_batch_fits",
    "frees_at",
    "refusal",
]

DAY = 24 * 3600.0  # the rolling window, seconds
BUDGET_FILE_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Reservation:
    """A store's answer to ``reserve(rows)``: ``used`` is what the last 24 h held before it;
    when not ``admitted``, ``free_at`` is the Unix time from which the rows fit (``None``:
    never, they are more than the whole budget). ``entry`` names an admitted reservation, for
    ``release``."""

    admitted: bool
    rows: int
    used: int
    free_at: float | None = None
    entry: str = ""


class RowBudget(Protocol):
    """What the engine asks of a budget store."""

    limit: int  # rows per rolling 24 h
    where: str  # the store, for messages (a path, a redacted Redis URL)

    async def reserve(self, rows: int) -> Reservation:
        """Count ``rows`` now if they fit in the last 24 h; either way say what was used."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Uncount an admitted reservation whose batch made no call."""
        ...

    async def used(self) -> int:
        """The rows counted in the last 24 h."""
        ...


def check_batch_fits(daily_rows: int | None, batch_rows: int) -> None:
    """A batch bigger than the whole budget could never be sent: refused at the start."""
    if daily_rows is not None and batch_rows > daily_rows:
        raise ConfigError(
            f"$batch_rows {batch_rows:,} is more than $daily_rows {daily_rows:,}: "
            "a batch could never fit the budget; lower $batch_rows",
            settings=("batch_rows", "daily_rows"),
        )


def frees_at(
    entries: Iterable[tuple[float, int]], used: int, rows: int, limit: int, window: float
) -> float | None:
    """When ``rows`` more fit, given the ``entries`` (time, rows) that hold ``used``: the time
    the oldest of them have left the window until ``used - their rows + rows <= limit``;
    ``None`` when ``rows`` alone exceed the limit."""
    if rows > limit:
        return None
    excess = used + rows - limit
    free_at = 0.0
    for at, counted in sorted(entries):
        if excess <= 0:
            break
        excess -= counted
        free_at = at + window
    return free_at


def refusal(budget: RowBudget, client_code: str, reservation: Reservation) -> str:
    """Why the run stopped, and when ``--resume`` can go on (the summary's stop message)."""
    said = (
        f"daily row budget: {budget.limit:,} rows per 24 h for client {client_code} "
        f"({budget.where}); {reservation.used:,} used; "
    )
    if reservation.free_at is None:
        return said + spell(
            f"a batch of {reservation.rows:,} rows can never fit: lower $batch_rows, then "
            "run again with ${resume=True}",
            "batch_rows",
            "resume=True",
        )
    # the next whole second: resuming at the time printed must find the room
    when = dt.datetime.fromtimestamp(math.ceil(reservation.free_at), dt.UTC)
    return said + spell(
        f"the next batch of {reservation.rows:,} would exceed it; the rest is pending: "
        f"run again with ${{resume=True}} after {when:%Y-%m-%d %H:%M:%S} UTC",
        "resume=True",
    )


class FileRowBudget:
    """The budget in a local JSON file shared through a lock (see the module doc)::

        {"schema": 1, "clients": {"acme": [{"at": "2025-06-01T02:00:00.000000+00:00",
                                            "rows": 50000, "entry": "9f…"}, …]}}

    ``now``: the wall clock (Unix seconds), injected by tests; ``window``: 24 h.
    ``open()`` first: it reads and rewrites the file, so a damaged, foreign or unwritable one
    is a ``ConfigError`` before anything is sent; later failures are ``RecordError``s (the
    run stops, resumable).
    """

    def __init__(
        self,
        path: Path,
        client_code: str,
        limit: int,
        *,
        now: Callable[[], float] = time.time,
        window: float = DAY,
    ) -> None:
        self.path = path
        self.limit = limit
        self.where = str(path)
        self._client = client_code
        self._lock = path.with_name(path.name + ".lock")
        self._now = now
        self._window = window

    def open(self) -> None:
        try:
            self._update(lambda entries, now: None)
        except _Unusable as error:
            raise ConfigError(
                f"$daily_rows_file {self.path}: {error}", settings=("daily_rows_file",)
            ) from None

    async def reserve(self, rows: int) -> Reservation:
        return await asyncio.to_thread(self._mid_run, self._reserve, rows)

    async def release(self, reservation: Reservation) -> None:
        def drop(entries: list[dict[str, Any]], now: float) -> None:
            entries[:] = [e for e in entries if e["entry"] != reservation.entry]

        await asyncio.to_thread(self._mid_run, lambda: self._update(drop))

    async def used(self) -> int:
        def count(entries: list[dict[str, Any]], now: float) -> int:
            return sum(e["rows"] for e in entries)

        return await asyncio.to_thread(self._mid_run, lambda: self._update(count, write=False))

    # -- the work, in a worker thread ------------------------------------------------------
    def _mid_run(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)``; the file failing it now is a ``RecordError``: the run stops."""
        try:
            return work(*args)
        except _Unusable as error:
            raise RecordError(f"daily row budget file {self.path}: {error}") from None

    def _reserve(self, rows: int) -> Reservation:
        def admit(entries: list[dict[str, Any]], now: float) -> Reservation:
            used = sum(e["rows"] for e in entries)
            if used + rows > self.limit:
                times = ((_unix(e["at"]), e["rows"]) for e in entries)
                free_at = frees_at(times, used, rows, self.limit, self._window)
                return Reservation(False, rows, used, free_at)
            entry = uuid.uuid4().hex
            at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="microseconds")
            entries.append({"at": at, "rows": rows, "entry": entry})
            return Reservation(True, rows, used, entry=entry)

        reservation: Reservation = self._update(admit)
        return reservation

    def _update(
        self, change: Callable[[list[dict[str, Any]], float], Any], *, write: bool = True
    ) -> Any:
        """Under the lock: read the file, drop what left the window, ``change`` this client's
        entries (returns its result), write the file back (when ``write``)."""
        try:
            with _flock.held(self._lock):
                now = self._now()
                clients = self._read()
                oldest = now - self._window  # an entry exactly 24 h old is out
                for code, entries in list(clients.items()):
                    clients[code] = [e for e in entries if _unix(e["at"]) > oldest]
                    if not clients[code]:
                        del clients[code]
                mine = clients.setdefault(self._client, [])
                result = change(mine, now)
                if not mine:
                    del clients[self._client]
                if write:
                    document = {"schema": BUDGET_FILE_SCHEMA, "clients": clients}
                    replace_durably(self.path, orjson.dumps(document))
                return result
        except OSError as error:
            raise _Unusable(f"cannot use it ({error.strerror or error})") from None

    def _read(self) -> dict[str, list[dict[str, Any]]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        if not raw.strip():
            return {}  # made empty by hand (touch): a budget with nothing counted yet
        try:
            document = orjson.loads(raw)
            schema = document["schema"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise _Unusable("not a daily row budget file (damaged?)") from None
        if schema != BUDGET_FILE_SCHEMA:
            raise _Unusable(
                f"written with budget file schema {schema!r}; this uploader reads "
                f"{BUDGET_FILE_SCHEMA} (a newer uploader's file? upgrade, or name another file)"
            )
        clients = document.get("clients")
        if not isinstance(clients, dict) or not all(
            isinstance(entries, list) and all(_valid(e) for e in entries)
            for entries in clients.values()
        ):
            raise _Unusable("not a daily row budget file (damaged?)")
        return clients


class _Unusable(Exception):
    """The budget file cannot be read or written (the caller says where and what follows)."""


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    at, rows = entry.get("at"), entry.get("rows")
    if not (isinstance(at, str) and isinstance(rows, int) and isinstance(entry.get("entry"), str)):
        return False
    try:
        _unix(at)
    except ValueError:
        return False
    return True


def _unix(at: str) -> float:
    return dt.datetime.fromisoformat(at).timestamp()
