"""Tokens: the profile-API token (expiry, regeneration) and the IMS tokens of the Admin API."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["IMS_TOKEN_TTL", "ImsAuthority", "TokenAuthority", "TokenVerdict", "bearer_token"]

#: IMS access tokens live about 24 h.
IMS_TOKEN_TTL = 86_400.0

TokenVerdict = Literal["ok", "missing", "invalid", "expired"]

MESSAGES: dict[TokenVerdict, str] = {
    "ok": "",
    "missing": "Authentication required: missing profile API token (Authorization: Bearer)",
    "invalid": "Invalid profile API token: unknown, or regenerated since it was issued",
    "expired": "Expired profile API token: generate a new token",
}


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def bearer_token(headers: Mapping[str, str], *, legacy: bool = False) -> str | None:
    """The token of ``Authorization: Bearer …``; with ``legacy``, also of the ``access_token``
    header older Adobe docs used. Off by default: today's docs name only the Bearer header, and
    a client that still sends the old one must fail here, as it would against Target."""
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if not legacy:
        return None
    return headers.get("access_token", "").strip() or None


@dataclass(slots=True)
class _Issued:
    token: str
    expires_at: float


class TokenAuthority:
    """One current profile token at a time; a new one invalidates the old one at once."""

    def __init__(self, clock: Callable[[], float], ttl: float, token: str | None) -> None:
        self.clock = clock
        self.ttl = ttl
        self._current = _Issued(token or _new_token(), clock() + ttl)

    @property
    def token(self) -> str:
        return self._current.token

    def expires_in(self) -> float:
        return max(0.0, self._current.expires_at - self.clock())

    def rotate(self, token: str | None = None) -> str:
        self._current = _Issued(token or _new_token(), self.clock() + self.ttl)
        return self._current.token

    def expire(self) -> None:
        self._current.expires_at = self.clock()

    def check(self, token: str | None) -> TokenVerdict:
        if token is None:
            return "missing"
        if not secrets.compare_digest(token, self._current.token):
            return "invalid"
        if self.clock() >= self._current.expires_at:
            return "expired"
        return "ok"

    @staticmethod
    def message(verdict: TokenVerdict) -> str:
        return MESSAGES[verdict]


class ImsAuthority:
    """IMS emulation: client-credentials in, short-lived access tokens out."""

    def __init__(self, clock: Callable[[], float], client_id: str, client_secret: str) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self._issued: dict[str, float] = {}

    def issue(self, client_id: str, client_secret: str) -> str | None:
        """A new access token, or None when the credentials are wrong."""
        id_ok = secrets.compare_digest(client_id, self.client_id)
        secret_ok = secrets.compare_digest(client_secret, self.client_secret)
        if not (id_ok and secret_ok):
            return None
        token = _new_token()
        self._issued[token] = self.clock() + IMS_TOKEN_TTL
        return token

    def valid(self, token: str | None) -> bool:
        expires_at = self._issued.get(token or "")
        return expires_at is not None and self.clock() < expires_at
