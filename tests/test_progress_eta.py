"""Progress under the rate limit: the ETA as a pure function of the counts and the limiter's
pace, the limiter's pace itself, and the lines and bar while the senders wait on the limit
(injected clocks: nothing waits)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from uploader.auth._secret import Secret
from uploader.auth._static import StaticToken
from uploader.cli._eta import eta_seconds, format_eta, rate_wait_note
from uploader.cli._progress import LineProgress, TerminalProgress
from uploader.ledger._summary import RunSummary
from uploader.mock import MockConfig, MockTarget
from uploader.produce._batcher import BatchLimits
from uploader.produce._producer import InputSpec, Producer
from uploader.send._engine import UploadConfig, upload
from uploader.send._ratelimit import Pace, RateLimit, RateLimiter, min_send_seconds
from uploader.testing import FakeClock, HttpAnswer, Request, ScriptedTransport, accepted

RATE = RateLimit(50, 60)
W = RATE.window


@pytest.mark.parametrize(
    ("calls", "recent", "expected"),
    [
        (0, (), 0.0),
        (10, (30.0,) * 40, 0.0),  # 40 in the window + 10 more fit now
        (11, (30.0,) * 40, W - 30.0),  # the 11th waits for the oldest to age out
        (1, (50.0,) + (1.0,) * 49, W - 50.0),
        (50, (50.0,) + (1.0,) * 49, W - 1.0),  # the 50th waits for the 50th-newest call
        (51, (50.0,) + (1.0,) * 49, W + W - 50.0),
        (51, (), W),  # a fresh window: the first 50 at once
        (38, (), 0.0),
    ],
)
def test_min_send_seconds_counts_the_calls_already_in_the_window(
    calls: int, recent: tuple[float, ...], expected: float
) -> None:
    assert min_send_seconds(calls, RATE, recent) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    gaps=st.lists(st.floats(0.0, 1.5), max_size=12),
    more=st.integers(0, 20),
)
def test_min_send_seconds_from_a_pace_is_what_the_limiter_then_takes(
    n: int, gaps: list[float], more: int
) -> None:
    """Calls at any times, then ``more`` back to back: the last starts exactly when the bound
    computed from the limiter's pace (the calls in its window) says."""

    async def scenario() -> None:
        clock = FakeClock()
        rate = RateLimit(n, 1.0)
        limiter = RateLimiter(rate, clock, clock.sleep)
        for gap in gaps:
            clock.now += gap
            await limiter.acquire()
        pace, start = limiter.pace(), clock()
        assert pace.next_call_in is None and len(pace.recent) <= n
        for _ in range(more):
            await limiter.acquire()
        assert clock() - start == pytest.approx(min_send_seconds(more, rate, pace.recent))

    asyncio.run(scenario())


async def test_the_limiter_says_when_the_next_call_goes_while_a_sender_waits() -> None:
    clock = FakeClock()
    released = asyncio.Event()
    asked: list[float] = []

    async def held_sleep(seconds: float) -> None:  # a sleep the test ends
        asked.append(seconds)
        await released.wait()
        clock.now += seconds

    limiter = RateLimiter(RateLimit(2, 10), clock, held_sleep)
    await limiter.acquire()
    clock.now = 3.0
    await limiter.acquire()
    assert limiter.pace() == Pace(RateLimit(2, 10), (3.0, 0.0), None)  # full, nobody waits
    waiting = asyncio.create_task(limiter.acquire())
    while not asked:
        await asyncio.sleep(0)
    clock.now = 5.0
    pace = limiter.pace()
    assert pace.next_call_in == pytest.approx(RateLimit(2, 10).window - 5.0)
    released.set()
    await waiting
    assert limiter.pace().next_call_in is None


def test_eta_is_the_later_of_the_observed_rate_and_the_rate_limit() -> None:
    # 50 batches of 1,000 rows went in 10 s; 50 more are left
    observed = eta_seconds(
        rows_left=50_000, rows_sent=50_000, batches_sent=50, elapsed=10.0, pace=None
    )
    assert observed == pytest.approx(10.0)
    # the 50 in the window are 10 s old: the next 50 wait for them to age out
    pace = Pace(RATE, (10.0,) * 50, next_call_in=W - 10.0)
    limited = eta_seconds(
        rows_left=50_000, rows_sent=50_000, batches_sent=50, elapsed=10.0, pace=pace
    )
    assert limited == pytest.approx(W - 10.0)
    # 100 left: a second window after that
    assert eta_seconds(
        rows_left=100_000, rows_sent=50_000, batches_sent=50, elapsed=10.0, pace=pace
    ) == pytest.approx(2 * W - 10.0)
    # a slow observed rate wins over a limit with room
    roomy = Pace(RATE, (), None)
    assert eta_seconds(
        rows_left=5_000, rows_sent=1_000, batches_sent=1, elapsed=100.0, pace=roomy
    ) == pytest.approx(500.0)


def test_eta_edges() -> None:
    assert eta_seconds(rows_left=0, rows_sent=0, batches_sent=0, elapsed=0.0, pace=None) == 0.0
    assert eta_seconds(rows_left=10, rows_sent=0, batches_sent=0, elapsed=5.0, pace=None) is None
    assert format_eta(None) == "ETA -:--:--"
    assert format_eta(3725.2) == "ETA 1:02:06"
    assert rate_wait_note(Pace(RATE, (), None)) is None
    assert rate_wait_note(Pace(RATE, (), 7.2)) == "waiting for rate limit, next call in 8 s"


def _paused_summary() -> RunSummary:
    return RunSummary(rows_acknowledged=50_000, batches_acknowledged=50)


def test_progress_line_says_the_run_waits_on_the_rate_limit() -> None:
    clock, stream = FakeClock(), io.StringIO()
    progress = LineProgress(stream, every=0.0, clock=clock)
    pace = Pace(RATE, (10.0,) * 50, next_call_in=W - 10.0)
    progress.watch(lambda: pace)
    progress.start()
    clock.now = 10.0
    progress.update(_paused_summary(), 100_000)
    line = stream.getvalue()
    stamp, _, line = line.partition(" ")  # each line starts with its UTC time
    assert stamp.endswith("Z")
    assert line.startswith("uploader: 50,000 of 100,000 rows acknowledged, 50 batches")
    assert "5,000 rows/s" in line
    assert line.rstrip().endswith(
        f"{format_eta(W - 10.0)}; waiting for rate limit, next call in 52 s"
    )


def test_progress_line_does_not_blame_the_limit_when_waiting_on_target() -> None:
    clock, stream = FakeClock(), io.StringIO()
    progress = LineProgress(stream, every=0.0, clock=clock)
    progress.watch(lambda: Pace(RATE, (1.0,) * 3, next_call_in=None))
    progress.start()
    clock.now = 10.0
    progress.update(_paused_summary(), 70_000)  # 20 batches left: they fit in the window
    assert "waiting" not in stream.getvalue() and "ETA 0:00:04" in stream.getvalue()


def test_terminal_bar_shows_the_wait_and_thousands() -> None:
    clock = FakeClock()
    progress = TerminalProgress(clock=clock)
    out = io.StringIO()
    progress._bar.live.console = Console(file=out, force_terminal=True, width=200)
    progress.watch(lambda: Pace(RATE, (10.0,) * 50, next_call_in=51.3))
    progress.start()
    clock.now = 10.0
    progress.update(_paused_summary(), 100_000)
    progress._bar.refresh()
    progress.stop()
    drawn = out.getvalue()
    assert "50,000/100,000 rows" in drawn
    assert "waiting for rate limit, next call in 52 s" in drawn
    assert format_eta(W - 10.0) in drawn


async def test_the_engine_lets_a_progress_display_watch_the_limiter(
    small_producer: Callable[..., Producer], tmp_path: Path
) -> None:
    """A progress with ``watch`` is given the limiter's pace; one without still works."""

    class Watching:
        def __init__(self) -> None:
            self.paces: list[Pace] = []
            self.pace: Callable[[], Pace] | None = None

        def watch(self, pace: Callable[[], Pace]) -> None:
            self.pace = pace

        def start(self) -> None: ...
        def stop(self) -> None: ...

        def update(self, summary: RunSummary, total: int | None) -> None:
            assert self.pace is not None
            self.paces.append(self.pace())

    clock, progress = FakeClock(), Watching()
    async with MockTarget(MockConfig(client_code="demo", rate_limit=None)) as mock:
        config = UploadConfig(
            client_code="demo",
            endpoint=mock.base_url,
            ledger=tmp_path / "l.jsonl",
            rate=RateLimit(2, 60),
            concurrency=1,
        )
        token = StaticToken(Secret(mock.token), "mock")
        summary = await upload(
            config,
            small_producer(tmp_path),
            token,
            clock=clock,
            sleep=clock.sleep,
            progress=progress,
        )
    assert summary.exit_code == 0 and len(progress.paces) == 5
    assert all(pace.rate == RateLimit(2, 60) for pace in progress.paces)
    assert [len(pace.recent) for pace in progress.paces] == [1, 2, 1, 2, 1]


async def test_lines_keep_coming_while_a_call_is_held(tmp_path: Path) -> None:
    """A log must not look hung during a long wait (the rate limit, Redis, a slow Target): a
    heartbeat every ``every`` seconds of the engine's clock, not only at a batch's outcome."""
    source = tmp_path / "in.csv"
    source.write_text("thirdPartyId,name\n" + "".join(f"id{n},n\n" for n in range(10)))
    clock, stream = FakeClock(start=1000.0), io.StringIO()
    progress = LineProgress(stream, every=3.0, clock=clock)
    release = asyncio.Event()

    async def held(request: Request) -> HttpAnswer:
        await release.wait()
        return accepted(request)

    async def watch() -> None:
        for _ in range(100_000):  # passes of the event loop, not time: then fail, not hang
            if stream.getvalue().count("rows acknowledged") >= 3:
                break
            await asyncio.sleep(0)
        release.set()

    watcher = asyncio.create_task(watch())
    summary = await upload(
        UploadConfig(client_code="demo", ledger=tmp_path / "ledger.jsonl", rate=None),
        Producer(InputSpec(sources=(source,), limits=BatchLimits(rows=10))),
        StaticToken(Secret("t"), "test"),
        transport=ScriptedTransport(held),
        clock=clock,
        sleep=clock.sleep,
        progress=progress,
    )
    await watcher
    assert summary.exit_code == 0
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4, lines
    assert all("uploader: 0 " in line for line in lines[:3]), lines  # while held
    assert lines[-1].split(" ", 1)[1].startswith("uploader: done: 10 of 10 rows")


def test_a_line_every_zero_seconds_is_one_per_batch_not_a_timer() -> None:
    """``--progress-every 0``: a line at each batch's outcome; the engine ticks no heartbeat."""
    from uploader.send._engine import Heartbeat

    assert isinstance(LineProgress(io.StringIO(), every=3.0), Heartbeat)
    assert LineProgress(io.StringIO(), every=0.0).every == 0.0


@pytest.mark.parametrize(
    ("rate", "next_call_in", "shown"),
    [
        (RateLimit(2, 3), RateLimit(2, 3).window, 3),  # the safety margin is not the user's
        (RateLimit(2, 3), 0.0, 1),  # woken late: still waiting, never "in 0 s"
        (RateLimit(2, 3), 2.2, 3),  # rounded up
        (RateLimit(2, 3), 30.0, 30),  # a throttle hold (Retry-After) may exceed the window
    ],
)
def test_the_wait_note_is_never_zero_nor_longer_than_the_window(
    rate: RateLimit, next_call_in: float, shown: int
) -> None:
    note = rate_wait_note(Pace(rate, (), next_call_in))
    assert note == f"waiting for rate limit, next call in {shown} s"
