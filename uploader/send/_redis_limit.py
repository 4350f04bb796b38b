"""One sliding window shared by every process that sends for one Target account, in Redis.

Target's 50 calls/min is per account, not per process: two uploads against one client code
(two feeds, a backfill beside the nightly sync, shards of one input) must draw from one
budget. ``RedisRateLimiter`` keeps the window of ``RateLimiter`` (``uploader.send._ratelimit``:
never more than N calls in *any* window of T seconds) in Redis, keyed by client code:

- ``uploader:rate:{CLIENT}``: a sorted set, one member per admitted call, scored with the time
  Redis admitted it (µs);
- ``uploader:rate:{CLIENT}:hold``: present while a throttle (503/429 seen by any process)
  holds every process; its TTL is what is left of the hold;
- ``uploader:rate:{CLIENT}:limit``: the ``--rate`` the processes drawing on the window use
  (``calls/period``), as long as the window holds calls. A window is only as strict as its
  largest N: a process with 60/60 beside one with 40/60 would take 60 calls a minute, so a
  process whose rate differs is refused — at ``connect()`` (exit 2, nothing sent), or at its
  next call if it connected in the same instant (the run stops, the rest pending).

(The braces are a Redis Cluster hash tag: both keys live in one slot, as a script needs.)

Why one Lua script and not the ``limits`` package's moving window: the script trims the
window, checks the hold, counts and admits in one atomic round trip, on Redis's own clock
(``TIME`` inside the script), so the clocks of the sending machines never matter and no two
processes can both take the last slot. ``limits``' moving window reads the clock of the
caller, and its other strategies (fixed window, sliding-window counter) are approximations
that admit up to ~2N calls across a window edge — as a leaky bucket does, which is why the
project keeps its own strict limiter in the first place.

The daily row budget (``--daily-rows``, ``uploader.send._row_budget``) lives beside the
window when there is a rate store: ``RedisRowBudget`` keeps ``uploader:rows:{CLIENT}``, a
sorted set with one member ``ROWS:ID`` per batch admitted, scored with Redis's time (µs). Its
script trims what is 24 h old, sums the rest and admits or refuses in one step, on the
limiter's connection (and with its handling of a lost Redis).

Redis unreachable at the start: ``connect()`` raises ``ConfigError`` (nothing was sent).
Lost mid-run: ``acquire`` retries for ``lost_after`` seconds, then raises ``RateStoreLost``;
the attempt loop turns that into a stop of the run with the rest pending (exit 6) — never a
silent fall-back to a per-process limit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from uploader._log import get_logger
from uploader.auth._secret import redacted_url
from uploader.errors import ConfigError, EndpointError, RateStoreLost
from uploader.send._ratelimit import Pace, RateLimit, pace_of
from uploader.send._row_budget import DAY, Reservation

__all__ = ["DEFAULT_LOST_AFTER", "RedisRateLimiter", "RedisRowBudget", "rate_key", "rows_key"]

log = get_logger(__name__)

DEFAULT_LOST_AFTER = 30.0  # seconds without Redis before the run stops
_RECONNECT_EVERY = 1.0  # seconds between tries while Redis is lost
_SOCKET_TIMEOUT = 5.0  # one Redis call; a hung server counts as lost, not as a wait
_LIMIT_SETTINGS = ("rate", "rate_store")  # named by the message of a rate that differs

# The limit a caller claims: set when no process holds one (or it is the caller's), kept as
# long as the window's keys (the caller's last call + one window + 1 s). Shared by both scripts.
_CLAIM = """
local function claim(key, limit, ttl_ms)
  local held = redis.call('GET', key)
  if held and held ~= limit then return held end
  redis.call('SET', key, limit, 'PX', ttl_ms)
  return false
end
"""

# KEYS: limit.  ARGV: limit ("calls/period"), ttl (ms).
# Returns the limit other processes use when it differs from the caller's, else nil (claimed).
_CONNECT = (
    _CLAIM
    + """
local other = claim(KEYS[1], ARGV[1], ARGV[2])
if other then return other end
return nil
"""
)

# KEYS: window, hold, log, limit.  ARGV: calls, window (µs), member, log (1/0), limit.
# Returns 0 when the call is admitted (and counted), the limit other processes use (a string)
# when it differs from the caller's, else the milliseconds to wait: until the hold ends, or the
# oldest call leaves the window. A call exactly one window old is out of it.
_ACQUIRE = (
    _CLAIM
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
local ttl = math.ceil(window / 1000) + 1000
local other = claim(KEYS[4], ARGV[5], ttl)
if other then return other end
local held = redis.call('PTTL', KEYS[2])
if held > 0 then return held end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  if ARGV[4] == '1' then redis.call('RPUSH', KEYS[3], now) end
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
"""
)

# KEYS: hold.  ARGV: milliseconds. A hold is only ever lengthened, never cut short.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


# KEYS: rows.  ARGV: limit, window (µs), rows, member ('' : only count).
# Returns {admitted 1/0, rows used before, µs from which the rows fit (0 when admitted or
# only counted; -1: never, more rows than the limit)}. A member is 'ROWS:ID'.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], '^(%d+):'))
end
if ARGV[4] == '' then return {0, used, 0} end
local limit = tonumber(ARGV[1])
local rows = tonumber(ARGV[3])
if used + rows <= limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, used, 0}
end
if rows > limit then return {0, used, -1} end
local excess = used + rows - limit
for i = 1, #entries, 2 do
  excess = excess - tonumber(string.match(entries[i], '^(%d+):'))
  if excess <= 0 then return {0, used, tonumber(entries[i + 1]) + window} end
end
return {0, used, now}
"""

# KEYS: rows.  ARGV: member.
_RELEASE = "return redis.call('ZREM', KEYS[1], ARGV[1])"


def rate_key(client_code: str) -> str:
    """The sorted set of ``client_code``'s window (its hold and log keys add a suffix)."""
    return f"uploader:rate:{{{client_code}}}"


def rows_key(client_code: str) -> str:
    """The sorted set of ``client_code``'s daily row budget."""
    return f"uploader:rows:{{{client_code}}}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class RedisRateLimiter:
    """``RateLimiter``'s window, shared through the Redis at ``url`` by every limiter of
    ``client_code``. Run ``connect()`` before the first call and ``close()`` after the last.

    Within one process callers queue in arrival order (one of them polls Redis at a time);
    across processes whoever asks first after a slot frees takes it. Every process must use
    the same ``limit``: one whose limit differs from the one the window holds is refused.
    ``record``: also append each admitted call's Redis time (µs) to the
    ``:log`` list — for tests that check the window on Redis's own timestamps.
    """

    def __init__(
        self,
        url: str,
        client_code: str,
        limit: RateLimit,
        *,
        lost_after: float = DEFAULT_LOST_AFTER,
        socket_timeout: float = _SOCKET_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        record: bool = False,
    ) -> None:
        self.limit = limit
        self.url = redacted_url(url)
        try:
            self._redis = aioredis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        except ValueError as error:  # not a redis:// (rediss://, unix://) URL
            raise ConfigError(
                f"$rate_store {self.url!r}: {_one_line(error)}", settings=("rate_store",)
            ) from None
        self._window_us = round(limit.window * 1e6)
        key = rate_key(client_code)
        self._keys = [key, f"{key}:hold", f"{key}:log", f"{key}:limit"]
        self._claimed = f"{limit.calls}/{limit.period:g}"
        self._client_code = client_code
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._connect = self._redis.register_script(_CONNECT)
        self._hold = self._redis.register_script(_HOLD)
        self._members = (f"{uuid.uuid4().hex}:{n}" for n in count())
        self._record = "1" if record else "0"
        self._lost_after = lost_after
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()  # FIFO within this process, as RateLimiter's
        self._holds: set[asyncio.Task[None]] = set()
        # this process's own calls and wait, on its clock, for pace(): the other processes'
        # calls are in Redis only, so a shared window's ETA is this process's lower bound
        self._sent: deque[float] = deque(maxlen=limit.calls)
        self._waiting_until: float | None = None

    async def connect(self) -> None:
        """Check that Redis answers and that the processes drawing on the window use this
        limit: ``ConfigError`` (one line) when not."""
        try:
            other = await self._connect(
                keys=self._keys[3:], args=[self._claimed, round(self._window_us / 1000) + 1000]
            )
        except (RedisError, OSError) as error:
            if "DB index is out of range" in str(error):  # Redis answered: no such DB
                db = self.url.rsplit("/", 1)[-1]
                raise ConfigError(
                    f"$rate_store {self.url}: this Redis has no DB {db} (DB index is out of "
                    "range: its `databases` setting, 16 by default, numbered from 0)",
                    settings=("rate_store",),
                ) from None
            raise ConfigError(
                f"$rate_store {self.url}: Redis does not answer ({_one_line(error)})",
                settings=("rate_store",),
            ) from None
        if other is not None:
            raise ConfigError(self._other_limit(other), settings=_LIMIT_SETTINGS)

    def _other_limit(self, other: bytes) -> str:
        return (
            f"$rate_store {self.url}: other processes draw on client code "
            f"{self._client_code}'s window with $rate {other.decode()}, this one with "
            f"{self._claimed}: every process sharing a store must use the same $rate"
        )

    async def close(self) -> None:
        for hold in list(self._holds):
            await asyncio.gather(hold, return_exceptions=True)
        await self._redis.aclose()

    async def acquire(self) -> None:
        """Wait until one more call fits in the shared window, then count it; ``RateStoreLost``
        when Redis stays unreachable for ``lost_after`` seconds."""
        async with self._lock:
            if self._holds:  # this process's own throttle goes first
                await asyncio.gather(*self._holds, return_exceptions=True)
            member = next(self._members)
            args = [self.limit.calls, self._window_us, member, self._record, self._claimed]
            while True:
                answer = await self.call(self._acquire, self._keys, args)
                if isinstance(answer, bytes):  # connected in the same instant as another rate
                    raise EndpointError(self._other_limit(answer), settings=_LIMIT_SETTINGS)
                wait_ms = int(answer)
                if wait_ms == 0:
                    self._sent.append(self._clock())
                    return
                self._waiting_until = self._clock() + wait_ms / 1000
                try:
                    await self._sleep(wait_ms / 1000)
                finally:
                    self._waiting_until = None

    def pace(self) -> Pace:
        return pace_of(self.limit, self._sent, self._waiting_until, self._clock())

    def script(self, source: str) -> AsyncScript:
        """A Lua script on this store's connection (``RedisRowBudget`` runs its own)."""
        return self._redis.register_script(source)

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """Run ``script``; while Redis does not answer, try again every second, and raise
        ``RateStoreLost`` once it has not answered for ``lost_after`` seconds."""
        lost_since: float | None = None
        while True:
            try:
                result = await script(keys=keys, args=args)
            except (RedisError, OSError) as error:
                now = self._clock()
                if lost_since is None:
                    lost_since = now
                    log.warning("rate store %s lost: %s", self.url, _one_line(error))
                left = lost_since + self._lost_after - now
                if left <= 0:
                    raise RateStoreLost(
                        f"the rate store {self.url} (Redis) has not answered for "
                        f"{self._lost_after:g} s ({_one_line(error)})"
                    ) from None
                await self._sleep(min(_RECONNECT_EVERY, left))
                continue
            if lost_since is not None:
                log.warning("rate store %s answers again", self.url)
            return result

    def throttled(self, retry_after: float | None = None) -> None:
        """Hold every limiter of this client code for ``retry_after`` seconds, or one call's
        share of the window. Written in the background; this process's next ``acquire``
        waits for the write."""
        pause = retry_after if retry_after is not None else self.limit.window / self.limit.calls
        task = asyncio.get_running_loop().create_task(self._write_hold(max(1, round(pause * 1000))))
        self._holds.add(task)
        task.add_done_callback(self._holds.discard)

    async def _write_hold(self, pause_ms: int) -> None:
        try:
            await self._hold(keys=self._keys[1:2], args=[pause_ms])
        except (RedisError, OSError) as error:  # acquire notices a lost Redis and says so
            log.warning("rate store %s: the hold was not written: %s", self.url, _one_line(error))


class RedisRowBudget:
    """The daily row budget of ``client_code`` in the Redis of ``store`` (its connection, its
    handling of a lost Redis): a ``RowBudget`` (``uploader.send._row_budget``). ``window``:
    24 h (shorter in tests)."""

    def __init__(
        self, store: RedisRateLimiter, client_code: str, limit: int, *, window: float = DAY
    ) -> None:
        self.limit = limit
        self.where = f"Redis {store.url}"
        self._store = store
        self._keys = [rows_key(client_code)]
        self._window_us = round(window * 1e6)
        self._reserve = store.script(_RESERVE)
        self._release = store.script(_RELEASE)

    async def reserve(self, rows: int) -> Reservation:
        member = f"{rows}:{uuid.uuid4().hex}"
        admitted, used, free_us = await self._run(rows, member)
        if admitted:
            return Reservation(True, rows, used, entry=member)
        return Reservation(False, rows, used, None if free_us < 0 else free_us / 1e6)

    async def release(self, reservation: Reservation) -> None:
        await self._store.call(self._release, self._keys, [reservation.entry])

    async def used(self) -> int:
        return (await self._run(0, ""))[1]

    async def _run(self, rows: int, member: str) -> tuple[bool, int, int]:
        args = [self.limit, self._window_us, rows, member]
        admitted, used, free_us = await self._store.call(self._reserve, self._keys, args)
        return bool(admitted), int(used), int(free_us)
