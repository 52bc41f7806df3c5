"""A circuit breaker for the LLM endpoint: after repeated failures, offline for a while.

A model that is down or overloaded costs every customer a full timeout before
the offline answer. After `failures` failures in a row the breaker opens and
every turn answers offline at once for `cooldown_s`; then one turn tries the
model again. Entering and leaving the offline period is logged once each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class CircuitBreaker:
    """Counts consecutive LLM failures of one process; `allow()` says whether to try the model."""

    failures: int = 3
    cooldown_s: float = 120.0
    clock: Callable[[], float] = time.monotonic
    _streak: int = 0
    _open_until: float | None = None
    _last_reason: str = field(default="")

    @property
    def is_open(self) -> bool:
        """True while LLM mode is degraded to offline."""
        return self._open_until is not None

    def allow(self) -> bool:
        """Whether this turn may call the model (a half-open trial once the cooldown ends)."""
        if self._open_until is None:
            return True
        return self.clock() >= self._open_until

    def record_success(self) -> None:
        """The model answered: close the breaker (logged when it was open)."""
        if self._open_until is not None:
            log.warning("LLM mode restored: the model answers again after an offline period "
                        "(last failure: %s)", self._last_reason)
        self._streak, self._open_until = 0, None

    def record_failure(self, reason: str) -> None:
        """The model failed; open (or re-open) the breaker after `failures` in a row."""
        self._streak += 1
        self._last_reason = reason
        if self._open_until is not None:
            self._open_until = self.clock() + self.cooldown_s  # the trial failed: stay offline
            return
        if self._streak >= self.failures:
            self._open_until = self.clock() + self.cooldown_s
            log.warning("LLM mode degraded to offline for %.0f s after %d failures in a row "
                        "(last: %s); every answer comes from the offline answerer meanwhile",
                        self.cooldown_s, self._streak, reason)
