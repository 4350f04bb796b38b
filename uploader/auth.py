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

from uploader.errors import ConfigError
from uploader.secret import Secret

if TYPE_CHECKING:
    from uploader.ratelimit import RateLimiter

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "SharesRateLimit",
    "StaticToken",
    "TokenProvider",
    "token_from_env",
    "token_from_file",
]

DEFAULT_TOKEN_ENV = "TARGET_PROFILE_TOKEN"


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

    def share_rate_limit(self, limiter: RateLimiter | None) -> None: ...


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


def token_from_env(var: str = DEFAULT_TOKEN_ENV, *, required: bool = False) -> StaticToken:
    """The token in ``$var``; an unset or empty variable means unauthenticated calls, unless
    ``required`` (the user named the variable explicitly)."""
    value = os.environ.get(var, "").strip()
    if not value and required:
        raise ConfigError(f"--token-env {var}: the environment variable is not set or empty")
    return StaticToken(Secret(value) if value else None, f"${var}" if value else "none")


def token_from_file(path: Path, *, allow_insecure: bool = False) -> StaticToken:
    """The token in ``path`` (surrounding whitespace ignored). A file that other users can
    read is refused: the token grants write access to every profile."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"--token-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {path}: cannot read ({exc})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not allow_insecure:
        raise ConfigError(
            f"--token-file {path}: readable by other users (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}` or pass --allow-insecure-token-file"
        )
    if not text:
        raise ConfigError(f"--token-file {path}: the file is empty")
    return StaticToken(Secret(text), f"file {path}")
