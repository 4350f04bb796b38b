"""Where the profile token comes from, and what to do when Target rejects it.

The engine asks a ``TokenProvider`` for the token before each call and tells it when a token
was rejected; a provider that can mint tokens returns a fresh one (once per rejected token,
however many senders saw it fail), a static one returns ``None`` and the run stops.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from uploader.auth._secret import Secret
from uploader.errors import ConfigError

if TYPE_CHECKING:
    from uploader.send._ratelimit import Limiter

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "MAX_TOKEN_FILE_BYTES",
    "SharesRateLimit",
    "StaticToken",
    "TokenProvider",
    "token_from_env",
    "token_from_file",
    "validated_token",
]

DEFAULT_TOKEN_ENV = "TARGET_PROFILE_TOKEN"
#: a token is a few hundred bytes: a bigger "token file" is the wrong file
MAX_TOKEN_FILE_BYTES = 64 * 1024
# the parameter a token file's messages name (``$token_file``: the CLI says --token-file)
_TOKEN_FILE = ("token_file",)


class TokenProvider(Protocol):
    @property
    def source(self) -> str:
        """Where the token comes from, for messages (never the token itself)."""
        ...

    async def get(self) -> Secret | None:
        """The token to send now (``None``: unauthenticated calls)."""
        ...

    async def rejected(self, token: Secret | None) -> Secret | None:
        """``token`` was refused: a fresh token, or ``None`` when none can be had."""
        ...


@runtime_checkable
class SharesRateLimit(Protocol):
    """A provider whose own calls draw on Target's per-account budget (the Admin API shares
    the bulk API's 50 calls/min): the run hands it its limiter."""

    def share_rate_limit(self, limiter: Limiter | None) -> None: ...


class StaticToken:
    """A token that cannot be renewed: from the environment, a file, or none at all."""

    def __init__(self, token: Secret | None, source: str) -> None:
        self._token = token
        self._source = source

    @property
    def source(self) -> str:
        return self._source

    async def get(self) -> Secret | None:
        return self._token

    async def rejected(self, token: Secret | None) -> Secret | None:
        return None

    def __repr__(self) -> str:
        return f"StaticToken(source={self._source!r}, token={self._token!r})"


def validated_token(text: str, source: str, *, settings: tuple[str, ...] = ()) -> Secret:
    """``text`` (stripped) as a token, if it can go in an ``Authorization`` header: printable
    ASCII without spaces (RFC 6750's token68 and more). A CR or LF would end the header inside
    aiohttp (a crash, or a header injected), other control characters too; the message names
    ``source`` (with ``$setting`` for each of ``settings`` it names) and never the text."""
    token = text.strip()
    if not all("!" <= char <= "~" for char in token):
        raise ConfigError(
            f"{source}: expected one token on one line (printable ASCII, no spaces or "
            "control characters)",
            settings=settings,
        )
    return Secret(token)


def token_from_env(var: str = DEFAULT_TOKEN_ENV, *, required: bool = False) -> StaticToken:
    """The token in ``$var``; an unset or empty variable means unauthenticated calls, unless
    ``required`` (the user named the variable explicitly). Either way ``source`` names the
    variable (a run that finds Target wants a token says which one to set)."""
    value = os.environ.get(var, "").strip()
    if not value and required:
        raise ConfigError(
            f"$token_env {var}: the environment variable is not set or empty",
            settings=("token_env",),
        )
    if not value:
        return StaticToken(None, f"${var}")
    return StaticToken(validated_token(value, f"${var}"), f"${var}")


def token_from_file(path: Path, *, allow_insecure: bool = False) -> StaticToken:
    """The token in ``path`` (surrounding whitespace ignored). Only a regular file of at most
    ``MAX_TOKEN_FILE_BYTES``, and not one that other users can read (the token grants write
    access to every profile); all checked before a byte is read: a FIFO would block the run,
    ``/dev/zero`` would fill memory."""
    name = f"$token_file {path}"
    try:
        _check_token_file(os.stat(path), path, allow_insecure)
        # O_NONBLOCK: if a FIFO was put there since the stat, open() does not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            _check_token_file(os.fstat(file.fileno()), path, allow_insecure)  # what was opened
            data = file.read(MAX_TOKEN_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file", settings=_TOKEN_FILE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read ({exc})", settings=_TOKEN_FILE) from exc
    if len(data) > MAX_TOKEN_FILE_BYTES:  # it grew since the check
        raise ConfigError(
            f"{name}: larger than {MAX_TOKEN_FILE_BYTES // 1024} KiB", settings=_TOKEN_FILE
        )
    if not text.strip():
        raise ConfigError(f"{name}: the file is empty", settings=_TOKEN_FILE)
    return StaticToken(validated_token(text, name, settings=_TOKEN_FILE), f"file {path}")


def _check_token_file(info: os.stat_result, path: Path, allow_insecure: bool) -> None:
    name = f"$token_file {path}"
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{name}: not a regular file", settings=_TOKEN_FILE)
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and not allow_insecure:
        raise ConfigError(
            f"{name}: readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run `chmod 600 {path}` or pass $allow_insecure_token_file",
            settings=(*_TOKEN_FILE, "allow_insecure_token_file"),
        )
    if info.st_size > MAX_TOKEN_FILE_BYTES:
        raise ConfigError(
            f"{name}: larger than {MAX_TOKEN_FILE_BYTES // 1024} KiB", settings=_TOKEN_FILE
        )
