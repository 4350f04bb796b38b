"""A string that hides itself: tokens and client secrets never reach a log, repr or ledger."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Secret", "redacted_url"]

_MASK: Final = "***"


class Secret:
    """Wraps a secret string. ``str``/``repr``/format show ``***``; ``reveal()`` is the only
    way to the value, so every place that sends it is easy to find."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:  # never pickle the value by accident
        raise TypeError("Secret cannot be pickled")


def redacted_url(url: str) -> str:
    """``url`` without its password (``redis://:pw@host`` → ``redis://:***@host``): messages
    and ``uploader config show`` may name a URL, never its secret."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{host}"))
