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
    │                        (404 on the submit URL), unreachable for a whole retry budget;
    │                        stops the run, unsent batches stay pending (exit 6)
    ├── TransportError       timeout, connection refused / reset (transient)
    └── RemoteError(status)  the server answered, and not with success
        ├── Throttled(retry_after)   503 throttle / 429 (transient)
        ├── ServerError              other 5xx, garbled body (transient)
        ├── BatchRejected            HTTP 200 + <success>false</success> (permanent)
        └── AuthError                401 / 403 / token invalid (stops the run, exit 3)

aiohttp exceptions are mapped to this tree in one place, ``AiohttpTransport``
(``uploader.send._transport``): every client call goes through it, Target's and Adobe I/O's.

A message about a setting names the library's parameter, never a CLI flag: it is written
with ``$name`` where the setting goes and lists the names in ``settings``, e.g.
``ConfigError("$sample must be at least 1", settings=("sample",))``. ``str(error)`` says
``sample must be at least 1``; the CLI says ``--sample must be at least 1`` through
``error.naming(flag)`` (``uploader.cli._errors``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "AuthError",
    "BatchRejected",
    "ConfigError",
    "EndpointError",
    "InputError",
    "LedgerError",
    "RecordError",
    "RemoteError",
    "ServerError",
    "Throttled",
    "TransportError",
    "UploaderError",
]


_SETTING = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class UploaderError(Exception):
    """Base of every error the uploader raises on purpose."""

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        self.template = message
        self.settings = settings
        super().__init__(self.naming(str))

    def naming(self, name: Callable[[str], str]) -> str:
        """The message with each ``$setting`` of ``settings`` spelt ``name(setting)``; any
        other ``$`` (a value, a path) is left as it is."""
        if not self.settings:
            return self.template
        return _SETTING.sub(
            lambda found: name(found[1]) if found[1] in self.settings else found[0],
            self.template,
        )


class ConfigError(UploaderError):
    """A flag, setting or config file is wrong. Nothing was sent."""


class InputError(UploaderError):
    """The input cannot be read as a whole (file, column, encoding, type). Nothing was sent."""


class LedgerError(UploaderError):
    """The ledger cannot be read, or does not describe this source and these settings."""


class EndpointError(UploaderError):
    """The endpoint cannot take any call, whatever the batch: retrying would only burn the
    retry budget of every batch. The run stops; unsent batches stay pending (resumable)."""


class RecordError(LedgerError):
    """The ledger, the rejects file or the summary cannot be written any more (disk full,
    read-only): nothing more may be sent, since its outcome could not be recorded."""


class TransportError(UploaderError):
    """No answer from the server: timeout, connection refused or reset. Transient."""


class RemoteError(UploaderError):
    """The server answered with something other than success."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
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
