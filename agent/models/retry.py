"""The one retry policy for model requests (the SDK's own retries are off so they do not multiply).

Aligned with the SDK's documented behaviour: what is retryable is decided where the error is
translated (``x-should-retry`` wins, spend limits never); a server's positive ``retry-after`` is
honoured, while ``0``, a past date or none backs off exponentially with jitter; and the total
budget counts the wall time of the attempts themselves, not only the sleeps between them.
Needs tenacity >= 8.3 (``upcoming_sleep``, and the wait computed before ``stop`` is asked).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from agent.options import DEFAULTS

T = TypeVar("T")


def _retryable(err: BaseException) -> bool:
    return bool(getattr(err, "retryable", False))


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter; a server's positive ``retry-after`` wins; attempts and wall time capped."""

    max_attempts: int = DEFAULTS.max_attempts
    max_total_wait: float = DEFAULTS.max_retry_wait
    """Seconds from the first attempt's start until the last may begin: attempts and sleeps both count."""
    initial: float = 1.0
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = field(default=lambda _: None)

    def backoff(self, attempt_number: int) -> float:
        # The SDK's shape: doubling, capped, jitter only ever shortens (by up to a quarter).
        doubled: float = self.initial * 2.0 ** (attempt_number - 1)
        return min(doubled, self.max_wait) * (1 - 0.25 * random.random())

    def call(self, attempt: Callable[[], T]) -> T:
        started = self.clock()

        def wait(state: RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            hinted = getattr(err, "retry_after", None)
            return float(hinted) if isinstance(hinted, int | float) and hinted > 0 else self.backoff(state.attempt_number)

        def stop(state: RetryCallState) -> bool:
            upcoming = state.upcoming_sleep or 0.0
            return state.attempt_number >= self.max_attempts or self.clock() - started + upcoming > self.max_total_wait

        def announce(state: RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            self.log(f"retrying in {state.upcoming_sleep:.1f} s after attempt {state.attempt_number} of {self.max_attempts} failed: {err}")

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(_retryable),
            sleep=self.sleep,
            before_sleep=announce,
            reraise=True,
        )
        return retrying(attempt)
