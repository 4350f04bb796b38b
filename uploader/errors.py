"""The one exception tree of the uploader.

Per-batch results are values (ledger ``BatchRecord``s); only conditions that end a run raise.

::

    UploaderError
    ├── ConfigError          bad flag, setting or config file (exit 2)
    ├── InputError           unreadable / malformed source, missing column (exit 2)
    ├── LedgerError          ledger unreadable, or does not match the source on --resume (exit 2)
    │   └── RecordError      a record or side file cannot be written mid-run (disk full,
    │                        read-only): the run stops, resumable (exit 6)
    ├── EndpointError        no call can succeed: TLS certificate refused, unknown client code
    │   │                    (404 on the submit URL), unreachable for a whole retry budget;
    │   │                    stops the run, unsent batches stay pending (exit 6)
    │   └── RateStoreLost    the rate store (--rate-store's Redis) stopped answering mid-run:
    │                        not Target's fault (stop reason ``rate_store``, exit 6)
    ├── TransportError       timeout, connection refused / reset (transient)
    └── RemoteError(status)  the server answered, and not with success
        ├── Throttled(retry_after)   503 throttle / 429 (transient)
        ├── ServerError              other 5xx, garbled body (transient)
        ├── BatchRejected            HTTP 200 + <success>false</success> (permanent)
        └── AuthError                401 / 403 / token invalid (stops the run, exit 3)

aiohttp exceptions are mapped to this tree in one place, ``AiohttpTransport``
(``uploader.send._transport``): every client call goes through it, Target's and Adobe I/O's.

A text about a setting names it in the caller's terms: it is written with ``$name`` where
the setting goes (``${…}`` for a key that is more than a name: ``${resume=True}``, a switch
turned on; ``${poll_statuses(…, watch=True)}``, another step) and lists the keys in
``settings``, e.g. ``ConfigError("$sample must be at least 1", settings=("sample",))``.
``SPELLING`` decides how keys read: by default as the library writes them (``sample must be
at least 1``, ``run again with resume=True``); the CLI sets its flags for a whole command
(``--sample must be at least 1``, ``run again with --resume``; ``uploader.cli._errors``).
``str(error)`` and ``spell`` (the texts of results: summary, stop messages, verdicts) both
read it, so one place decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "AuthError",
    "BatchRejected",
    "ConfigError",
    "EndpointError",
    "InputError",
    "LedgerError",
    "RateStoreLost",
    "RecordError",
    "RemoteError",
    "ServerError",
    "Throttled",
    "TransportError",
    "UploaderError",
    "first_line",
    "spell",
    "spelt",
]


#: a key: ``$name``, or ``${…}`` for one that is more than a name
_SETTING = re.compile(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _as_written(key: str) -> str:
    return key


#: How the caller names a key: as the library writes it (the Python API's own parameter) unless
#: the caller sets its own spelling for what it runs (``spelt``; the CLI: its flags). A context
#: variable, so asyncio tasks and ``asyncio.to_thread`` see the caller's; a worker thread of
#: one's own must be handed a copy of the context. Texts that are stored (ledger messages,
#: rejects reasons, ``summary.json``) keep the spelling of the caller who ran it.
SPELLING: ContextVar[Callable[[str], str]] = ContextVar("SPELLING", default=_as_written)


@contextmanager
def spelt(spelling: Callable[[str], str]) -> Iterator[None]:
    """Every text made inside names keys with ``spelling``."""
    token = SPELLING.set(spelling)
    try:
        yield
    finally:
        SPELLING.reset(token)


def spell(template: str, *settings: str) -> str:
    """``template`` with each key of ``settings`` (``$name``, ``${key}``) named as the caller
    names it (``SPELLING``); any other ``$`` (a value, a path, ``$HOME``) is left as it is."""
    return _spelling(template, settings, SPELLING.get())


def _spelling(template: str, settings: tuple[str, ...], name: Callable[[str], str]) -> str:
    if not settings:
        return template
    return _SETTING.sub(
        lambda found: name(key) if (key := found[1] or found[2]) in settings else found[0],
        template,
    )


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (a library's may run over many), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UploaderError(Exception):
    """Base of every error the uploader raises on purpose."""

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        self.template = message
        self.settings = settings
        super().__init__(self.naming(_as_written))

    def __str__(self) -> str:
        """The message in the caller's terms (``SPELLING``)."""
        return self.naming(SPELLING.get())

    def naming(self, name: Callable[[str], str]) -> str:
        """The message with each key of ``settings`` spelt ``name(key)``; any other ``$``
        (a value, a path) is left as it is."""
        return _spelling(self.template, self.settings, name)


class ConfigError(UploaderError):
    """A flag, setting or config file is wrong. Nothing was sent."""


class InputError(UploaderError):
    """The input cannot be read as a whole (file, column, encoding, type). Nothing was sent."""


class LedgerError(UploaderError):
    """The ledger cannot be read, or does not describe this source and these settings."""


class EndpointError(UploaderError):
    """The endpoint cannot take any call, whatever the batch: retrying would only burn the
    retry budget of every batch. The run stops; unsent batches stay pending (resumable)."""


class RateStoreLost(EndpointError):
    """The shared rate store (Redis) has not answered for its ``lost_after`` seconds: no call
    may be counted in the shared window, so none may go. An ``EndpointError`` (the run stops
    the same way) that says whose fault it is: the run's stop reason is ``rate_store``."""


class RecordError(LedgerError):
    """The ledger, the rejects file or the summary cannot be written any more (disk full,
    read-only): nothing more may be sent, since its outcome could not be recorded."""


class TransportError(UploaderError):
    """No answer from the server: timeout, connection refused or reset. Transient."""


class RemoteError(UploaderError):
    """The server answered with something other than success."""

    def __init__(
        self, message: str, *, status: int | None = None, settings: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, settings=settings)
        self.status = status


class Throttled(RemoteError):
    """503 throttle or 429. Transient; ``retry_after`` seconds if the server said."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(RemoteError):
    """Any other 5xx, or a body that cannot be parsed. Transient."""


class BatchRejected(RemoteError):
    """HTTP 200 with ``<success>false</success>``: Target refused the batch. Not retried."""


class AuthError(RemoteError):
    """401/403 or a token-invalid body: the token is missing, expired or was regenerated."""
