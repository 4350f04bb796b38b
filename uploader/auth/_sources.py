"""Token providers that can mint: a credential-helper command, and Adobe I/O (IMS → Admin API).

Both follow the ``TokenProvider`` protocol of ``uploader.auth._static``. They are safe against
concurrent calls on their own (one lock each), not only behind the engine's single-flight
refresh: however many senders ask at once, one command run / one Admin API call happens, and
each rejected token is replaced at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable

from uploader.auth._adobe_io import (
    AdobeIOCredentials,
    ProfileToken,
    fetch_profile_token,
    request_profile_token,
)
from uploader.auth._secret import Secret
from uploader.auth._static import MAX_TOKEN_FILE_BYTES, validated_token
from uploader.errors import ConfigError, UploaderError, spell
from uploader.send._ratelimit import Limiter
from uploader.send._transport import Transport

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_REFRESH_MARGIN",
    "AdobeIOToken",
    "CommandToken",
]

DEFAULT_COMMAND_TIMEOUT = 60.0
#: renew a profile token this many seconds before the expiry the Admin API announced
DEFAULT_REFRESH_MARGIN = 300.0

Warn = Callable[[str], None]


def _ignore(message: str) -> None:
    pass


class _LoopLock:
    """An ``asyncio.Lock`` per event loop (a provider may outlive one ``asyncio.run``)."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock


class CommandToken:
    """The token is what ``command`` prints on stdout (stripped), like a git credential helper.

    The command runs through the shell on the first ``get()``; after a rejection it runs once
    more (once per rejected token) and may mint a new token. Its stderr goes to ours (its own
    messages); its stdout is never shown, not even when it fails.
    """

    def __init__(
        self, command: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT, warn: Warn = _ignore
    ) -> None:
        if not command.strip():
            raise ConfigError("$token_command: the command is empty", settings=("token_command",))
        if timeout <= 0:
            raise ConfigError(
                "$token_command: the timeout must be positive", settings=("token_command",)
            )
        self._command = command
        self._timeout = timeout
        self._warn = warn
        self._token: Secret | None = None
        self._replaced: set[Secret | None] = set()
        self._lock = _LoopLock()
        self.runs = 0  # times the command ran (tests count refreshes with it)

    @property
    def source(self) -> str:
        return spell("${CommandToken}", "CommandToken")  # never the command: it may hold a secret

    async def get(self) -> Secret | None:
        async with self._lock():
            if self._token is None:
                self._token = await self._run()
            return self._token

    async def rejected(self, token: Secret | None) -> Secret | None:
        async with self._lock():
            if self._token is not None and token != self._token:
                return self._token  # already replaced by another sender's refresh
            if token in self._replaced:
                return None
            self._replaced.add(token)
            try:
                fresh = await self._run()
            except UploaderError as error:
                self._warn(f"cannot refresh the profile token: {error}")
                return None
            if fresh == token:
                self._warn(f"{self.source} printed the token that was just rejected")
                return None
            self._token = fresh
            return fresh

    async def _run(self) -> Secret:
        self.runs += 1
        name = self.source
        try:
            status, out = await _run_helper(self._command, self._timeout)
        except TimeoutError:
            raise ConfigError(f"{name}: no answer within {self._timeout:g} s") from None
        except OSError as exc:
            raise ConfigError(f"{name}: cannot run it ({type(exc).__name__})") from None
        if status != 0:
            raise ConfigError(f"{name} failed (exit status {status})")
        if len(out) > MAX_TOKEN_FILE_BYTES:
            raise ConfigError(f"{name}: printed more than {MAX_TOKEN_FILE_BYTES // 1024} KiB")
        try:
            text = out.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"{name}: its output is not UTF-8 text") from None
        if not text:
            raise ConfigError(f"{name} printed nothing on stdout (expected the token)")
        return validated_token(text, name)

    def __repr__(self) -> str:
        # not the command: it may hold a secret (an inline password, a vault token)
        return f"CommandToken(token={self._token!r})"


async def _run_helper(command: str, timeout: float) -> tuple[int, bytes]:
    """Run ``command`` through the shell; its exit status and what it printed on stdout up to
    its exit (at most ``MAX_TOKEN_FILE_BYTES`` and a bit).

    The wait ends when the command exits, not at EOF of its stdout: a helper that leaves a
    background child (an agent, a cache daemon) holding the pipe has printed its token and
    exited, and must not cost the whole timeout. So stdout is our own pipe, read as it comes
    (a helper printing more than a pipe buffer must not block) and once more after the exit:
    what it wrote before exiting is in the pipe then. Raises ``TimeoutError`` (the command's
    process group killed) and ``OSError`` (cannot start it).
    """
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    out = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(read_fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                loop.remove_reader(read_fd)
                return
            # past the cap: read on (the helper must not block) but keep no more
            out.extend(chunk[: MAX_TOKEN_FILE_BYTES + 1 - len(out)])

    try:
        os.set_blocking(read_fd, False)
        try:
            process = await asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                start_new_session=True,  # its own process group: a timeout kills it whole
            )
        finally:
            os.close(write_fd)  # the child has its copy: EOF depends on it alone
        loop.add_reader(read_fd, drain)
        try:
            status = await asyncio.wait_for(process.wait(), timeout)
        except (TimeoutError, asyncio.CancelledError):  # leave no helper behind
            await _kill(process)
            raise
        drain()
        return status, bytes(out)
    finally:
        loop.remove_reader(read_fd)
        os.close(read_fd)


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


class AdobeIOToken:
    """The profile token from the Target Admin API, with OAuth server-to-server credentials.

    ``get()`` fetches the current token once (IMS → ``GET …/authentication/token``) and renews
    it ``refresh_margin`` seconds before the expiry the API announced: first by asking for the
    current token again (someone may have regenerated it already), and only if that one is
    about to expire too by generating a new one (``POST``). ``rejected()`` does the same for a
    refused token: a regenerated token elsewhere is adopted; otherwise a new one is generated,
    at most once per rejected token.

    Target's 50 calls/min budget is shared by the Admin, Reporting and bulk profile APIs of
    one account, so an upload hands its limiter over (``share_rate_limit``) and every Admin
    API call then waits for a slot like a batch does (the IMS call is not Target's: free).
    """

    def __init__(
        self,
        credentials: AdobeIOCredentials,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        transport: Transport | None = None,
        ca_bundle: str | None = None,
        warn: Warn = _ignore,
    ) -> None:
        """``transport``: what IMS and the Admin API are called over (the caller closes it;
        a ``ScriptedTransport`` in tests). Without one, each renewal opens its own HTTPS
        connections, trusting the system store plus ``ca_bundle``."""
        if refresh_margin < 0:
            raise ConfigError("Adobe I/O: the refresh margin must not be negative")
        self.credentials = credentials
        self._clock = clock
        self._margin = refresh_margin
        self._transport = transport
        self._ca_bundle = ca_bundle
        self._warn = warn
        self._token: Secret | None = None
        self._renew_at: float | None = None
        self._replaced: set[Secret | None] = set()
        self._lock = _LoopLock()
        self._limiter: Limiter | None = None
        self.fetches = 0  # Admin API GETs
        self.mints = 0  # Admin API POSTs: new tokens generated

    @property
    def source(self) -> str:
        return f"Adobe I/O (tenant {self.credentials.tenant})"

    def share_rate_limit(self, limiter: Limiter | None) -> None:
        """Draw Admin API calls from ``limiter`` (the run's bulk-call budget) from now on."""
        self._limiter = limiter

    async def get(self) -> Secret | None:
        async with self._lock():
            if self._token is None:
                await self._current_or_new()  # errors end the run before anything is sent
            elif self._renew_at is not None and self._clock() >= self._renew_at:
                try:
                    await self._current_or_new()
                except UploaderError as error:  # the current token may still do; a 401 will tell
                    self._warn(f"cannot renew the profile token before it expires: {error}")
                    self._renew_at = None
            return self._token

    async def rejected(self, token: Secret | None) -> Secret | None:
        async with self._lock():
            if self._token is not None and token != self._token:
                return self._token  # already replaced by another sender's refresh
            if token in self._replaced:
                return None
            self._replaced.add(token)
            try:
                await self._current_or_new(rejected=token)
            except UploaderError as error:
                self._warn(f"cannot get a new profile token: {error}")
                return None
            return self._token if self._token != token else None

    async def _current_or_new(self, rejected: Secret | None = None) -> None:
        self.fetches += 1
        current = await self._admin_call(new=False)
        if current.token != rejected and not self._expiring(current):
            self._adopt(current)
            return
        self.mints += 1
        self._adopt(await self._admin_call(new=True))

    async def _admin_call(self, *, new: bool) -> ProfileToken:
        if self._limiter is not None:
            await self._limiter.acquire()
        if self._transport is not None:
            return await fetch_profile_token(self._transport, self.credentials, new=new)
        return await request_profile_token(self.credentials, new=new, ca_bundle=self._ca_bundle)

    def _expiring(self, answer: ProfileToken) -> bool:
        return answer.expires_in is not None and answer.expires_in <= self._margin

    def _adopt(self, answer: ProfileToken) -> None:
        self._token = answer.token
        if answer.expires_in is None:
            self._renew_at = None
        else:
            # Never sooner than half the lifetime: a short-lived token must not mint in a loop.
            lead = min(self._margin, answer.expires_in / 2)
            self._renew_at = self._clock() + answer.expires_in - lead

    def __repr__(self) -> str:
        return f"AdobeIOToken(tenant={self.credentials.tenant!r}, token={self._token!r})"
