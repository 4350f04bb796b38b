"""Settings of the mock Target server: frozen, keyword-only dataclasses validated on creation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CLIENT_MAX_SIZE",
    "DEFAULT_RATE_LIMIT",
    "MAX_BODY_BYTES",
    "MAX_ROWS",
    "FaultConfig",
    "MockConfig",
    "StatusUrlStyle",
]

#: Target rejects a bulk body of this many bytes or more (documented "< 50 MB").
MAX_BODY_BYTES = 50_000_000
#: Target rejects a bulk body with more data rows than this.
MAX_ROWS = 500_000
#: aiohttp's body cap: above the 50 MB limit, so the mock can answer "too large" in XML itself.
CLIENT_MAX_SIZE = 64 * 1024 * 1024
#: The documented throttle: 50 bulk calls in any 60-second window.
DEFAULT_RATE_LIMIT = (50, 60.0)

#: ``plain``: ``…/m2/{client}/profile/batchStatus?batchId=…`` (well-formed XML);
#: ``doc``: Adobe's documented example, ``…/v2/profile/batchStatus?batchId=…&m2Node=00`` with
#: the ``&`` left bare in the XML (so the submit answer is not well-formed XML).
StatusUrlStyle = Literal["plain", "doc"]


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], not {value!r}")


def _check_regex(name: str, pattern: str | None) -> None:
    # Ids are matched by polars, so the pattern is Rust regex syntax: compile it the same way.
    if pattern is None:
        return
    if not pattern:
        raise ValueError(f"{name} must not be empty (use None for no pattern)")
    import polars as pl  # only for a pattern: `mock-server --help` and the demo stay light

    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{name} is not a valid regular expression: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Faults injected into bulk submit calls (and, with ``on_status``, into status calls).

    Probabilities are drawn once per call from a generator seeded by ``MockConfig.seed``, so a
    run is reproducible. ``p_500 + p_502 + p_503 + p_429 + p_reset + p_truncated`` must not
    exceed 1 (at most one of these per call). ``p_stuck`` is drawn separately: the batch is
    accepted but its status stays ``stuck``.
    """

    p_500: float = 0.0
    p_502: float = 0.0
    p_503: float = 0.0
    p_429: float = 0.0
    #: seconds sent in the ``Retry-After`` header of an injected 429
    retry_after: float = 1.0
    #: connection reset before any response byte (the batch is *not* processed)
    p_reset: float = 0.0
    #: the batch *is* processed, but the HTTP 200 XML body is cut short (client cannot tell)
    p_truncated: float = 0.0
    #: fixed seconds added before answering
    latency: float = 0.0
    #: random extra seconds, uniform in [0, latency_jitter)
    latency_jitter: float = 0.0
    #: seconds over which the response body is written, in small pieces
    slow_body: float = 0.0
    #: faults only on the first K bulk calls (None: on every call)
    first_k_calls: int | None = None
    p_stuck: float = 0.0
    #: also inject latency, 5xx, 429, reset and truncation into batchStatus calls
    on_status: bool = False
    #: row-level failures (batch accepted, the row not applied, listed in batchStatus):
    #: each id fails with this probability, decided by a seeded hash of the id (so the same
    #: ids fail whatever the arrival order or batching)
    fail_rows: float = 0.0
    #: rows whose decoded id matches this regular expression (searched, not anchored) fail
    fail_ids: str | None = None
    #: a row picked by ``fail_rows`` / ``fail_ids`` fails only the first time its id is sent
    fail_once: bool = False
    #: a batch holding a row whose decoded id matches this regular expression is refused
    #: whole (HTTP 200, ``success=false``, "Unexpected error"), nothing stored
    reject_ids: str | None = None

    def __post_init__(self) -> None:
        names = ("p_500", "p_502", "p_503", "p_429", "p_reset", "p_truncated", "p_stuck")
        for name in (*names, "fail_rows"):
            _check_probability(name, getattr(self, name))
        if self.total_error_probability > 1.0 + 1e-9:
            raise ValueError("the error probabilities (5xx, 429, reset, truncated) sum above 1")
        for name in ("retry_after", "latency", "latency_jitter", "slow_body"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.first_k_calls is not None and self.first_k_calls < 0:
            raise ValueError("first_k_calls must not be negative")
        for name in ("fail_ids", "reject_ids"):
            _check_regex(name, getattr(self, name))

    @property
    def total_error_probability(self) -> float:
        return self.p_500 + self.p_502 + self.p_503 + self.p_429 + self.p_reset + self.p_truncated


@dataclass(frozen=True, slots=True, kw_only=True)
class MockConfig:
    """How the mock behaves. Every default mirrors documented Target behaviour.

    Times are float seconds read from ``clock`` (monotonic), so tests can inject a fake clock
    and drive token expiry, the throttle window and status processing without sleeping.
    """

    client_code: str = "demo"
    require_auth: bool = True
    #: the profile token; None generates a random one
    token: str | None = None
    token_ttl: float = 86_400.0
    #: also accept the token in the ``access_token:`` header of older Adobe docs
    accept_legacy_token_header: bool = False
    #: (calls, window seconds) for the bulk endpoint; None disables the throttle
    rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT
    #: seconds a batch stays ``incomplete`` before it is ``complete``
    status_delay: float = 0.0
    #: random extra seconds per batch, uniform in [0, status_delay_jitter), seeded
    status_delay_jitter: float = 0.0
    #: shape of the batchStatus URL in the submit answer (see ``StatusUrlStyle``)
    status_url_style: StatusUrlStyle = "doc"
    #: keep only the last N batch statuses (Target keeps about 10); None keeps all
    status_retention: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    keep_receipts: bool = True
    store_profiles: bool = True
    clock: Callable[[], float] = time.monotonic
    seed: int = 0
    ims_client_id: str = "demo-client-id"
    ims_client_secret: str = "demo-client-secret"
    tenant: str = "demo-tenant"
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not self.client_code:
            raise ValueError("client_code must not be empty")
        if self.token is not None and not self.token:
            raise ValueError("token must not be empty (use None to generate one)")
        if self.token_ttl <= 0:
            raise ValueError("token_ttl must be positive")
        if self.rate_limit is not None:
            calls, window = self.rate_limit
            if calls < 1 or window <= 0:
                raise ValueError("rate_limit must be (calls >= 1, window seconds > 0)")
        if self.status_delay < 0 or self.status_delay_jitter < 0:
            raise ValueError("status_delay and status_delay_jitter must not be negative")
        if self.status_url_style not in ("plain", "doc"):
            raise ValueError(
                f"status_url_style must be plain or doc, not {self.status_url_style!r}"
            )
        if self.status_retention is not None and self.status_retention < 1:
            raise ValueError("status_retention must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be within 0..65535")
