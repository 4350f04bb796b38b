"""Seeded fault decisions: one fixed set of random draws per call, so runs are reproducible."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from uploader.mock._config import FaultConfig

__all__ = ["FaultDecision", "FaultInjector", "FaultKind"]

FaultKind = Literal["500", "502", "503", "429", "reset", "truncated"]


@dataclass(frozen=True, slots=True)
class FaultDecision:
    kind: FaultKind | None = None
    latency: float = 0.0
    slow_body: float = 0.0
    stuck: bool = False
    retry_after: float = 0.0
    #: fraction of the body kept by a truncated answer, in (0, 1)
    cut: float = 0.5


NO_FAULT = FaultDecision()


class FaultInjector:
    """Turns a ``FaultConfig`` into a decision per call."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(seed)

    def decide(self, call_number: int, *, status_call: bool = False) -> FaultDecision:
        cfg = self.config
        # Always draw the same number of values, so one call's fault never shifts the next's.
        u_kind, u_jitter, u_stuck, u_cut = (self._rng.random() for _ in range(4))
        if status_call and not cfg.on_status:
            return NO_FAULT
        if cfg.first_k_calls is not None and call_number > cfg.first_k_calls:
            return NO_FAULT
        kind: FaultKind | None = None
        edge = 0.0
        choices: tuple[tuple[FaultKind, float], ...] = (
            ("500", cfg.p_500),
            ("502", cfg.p_502),
            ("503", cfg.p_503),
            ("429", cfg.p_429),
            ("reset", cfg.p_reset),
            ("truncated", cfg.p_truncated),
        )
        for name, probability in choices:
            edge += probability
            if u_kind < edge:
                kind = name
                break
        return FaultDecision(
            kind=kind,
            latency=cfg.latency + cfg.latency_jitter * u_jitter,
            slow_body=cfg.slow_body,
            stuck=not status_call and u_stuck < cfg.p_stuck,
            retry_after=cfg.retry_after,
            cut=0.1 + 0.8 * u_cut,
        )
