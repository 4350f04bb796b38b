"""``MockTarget``: the mock served on a loopback port, as an async context manager, or in a
background thread with its own event loop (``run_mock_in_thread``)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl
from aiohttp import web

from uploader.mock._app import build_app
from uploader.mock._config import FaultConfig, MockConfig
from uploader.mock._state import MockState
from uploader.mock._store import ProfileStore

__all__ = ["MockTarget", "run_mock_in_thread"]


class MockTarget:
    """A running mock Target server.

    ``async with MockTarget(MockConfig(...)) as mock:`` serves on ``mock.base_url`` until the
    block ends. The methods below are safe to call from any thread.
    """

    def __init__(
        self, config: MockConfig | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.config = config or MockConfig()
        self.ssl_context = ssl_context  # serve HTTPS with it (tests of --ca-bundle)
        self._state = MockState(self.config)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def __aenter__(self) -> MockTarget:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        runner = web.AppRunner(build_app(self._state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- where and how to call it ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the mock is not running")
        return self._port

    @property
    def base_url(self) -> str:
        """``http(s)://HOST:PORT``; the bulk endpoint is ``/m2/{client}/v2/profile/batchUpdate``."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token(self) -> str:
        with self._state.lock:
            return self._state.auth.token

    def rotate_token(self, token: str | None = None) -> str:
        """A new profile token; the old one stops working at once."""
        with self._state.lock:
            return self._state.auth.rotate(token)

    def expire_token(self) -> None:
        """The current token is expired from now on."""
        with self._state.lock:
            self._state.auth.expire()

    def set_faults(self, faults: FaultConfig) -> None:
        self._state.set_faults(faults)

    # -- what it received --------------------------------------------------------------------

    def received_frame(self, id_column: str = "thirdPartyId") -> pl.DataFrame:
        """Every row taken (accepted, not failed by a row fault) in arrival order: ``call``,
        the id, then the attributes (union across calls, missing → null), values decoded.
        Only calls whose id header is ``id_column``."""
        with self._state.lock:
            return self._state.receipts.frame(id_column)

    @property
    def receipts_count(self) -> int:
        with self._state.lock:
            return self._state.receipts.rows

    def dump_receipts(self, path: str | Path) -> None:
        with self._state.lock:
            self._state.receipts.dump(path)

    @property
    def stats(self) -> dict[str, Any]:
        return self._state.stats()

    def admitted_call_times(self) -> list[float]:
        """When the throttle admitted each bulk call (``config.clock`` seconds), in order;
        empty without a throttle."""
        with self._state.lock:
            throttle = self._state.throttle
            return [] if throttle is None else list(throttle.admitted_at)

    @property
    def profiles(self) -> ProfileStore:
        return self._state.profiles

    def drop_profiles(self, ids: list[str] | pl.Series, kind: str = "thirdPartyId") -> int:
        with self._state.lock:
            return self._state.profiles.drop(ids, kind)

    @property
    def batch_ids(self) -> list[str]:
        """Ids of the batches whose status is still kept, oldest first."""
        with self._state.lock:
            return self._state.statuses.ids()

    def mark_stuck(self, batch_id: str) -> None:
        with self._state.lock:
            record = self._state.statuses.get(batch_id)
            if record is None:
                raise KeyError(batch_id)
            record.stuck = True


@contextmanager
def run_mock_in_thread(
    config: MockConfig | None = None, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[MockTarget]:
    """The mock in a daemon thread with its own loop, for synchronous callers."""
    mock = MockTarget(config, ssl_context=ssl_context)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(mock.start())
        except BaseException as exc:  # reported to the caller's thread
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(mock.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="mock-target", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        loop.close()
        raise failure[0]
    try:
        yield mock
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
