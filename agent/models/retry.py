"""The one retry policy for model requests (the SDK's own retries are off so they do not multiply)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential, wait_random

T = TypeVar("T")


def _retryable(err: BaseException) -> bool:
    return bool(getattr(err, "retryable", False))


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter; a server's ``retry-after`` wins; attempts and total wait capped."""

    max_attempts: int = 5
    max_total_wait: float = 120.0
    initial: float = 1.0
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = field(default=lambda _: None)

    def call(self, attempt: Callable[[], T]) -> T:
        backoff = wait_exponential(multiplier=self.initial, max=self.max_wait) + wait_random(0, self.initial)

        def wait(state: RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            hinted = getattr(err, "retry_after", None)
            return float(hinted) if isinstance(hinted, int | float) and hinted >= 0 else backoff(state)

        def stop(state: RetryCallState) -> bool:
            upcoming = state.upcoming_sleep or 0.0
            return state.attempt_number >= self.max_attempts or state.idle_for + upcoming > self.max_total_wait

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
