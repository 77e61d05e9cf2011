"""SIGINT and SIGTERM during a command: interrupt at once, except inside the commit, which finishes first."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from agent.errors import Interrupted


class SignalGuard:
    """SIGINT/SIGTERM during a run raise ``Interrupted`` at once, except inside ``deferred()`` (the commit),
    where the signal waits for ``check()`` at the commit point or for the end of the commit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.committed = False
        self._deferring = 0
        self._installed = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        if first and not self._deferring:  # a second signal never interrupts the clean-up of the first
            raise Interrupted(signum, committed=self.committed)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Our handlers for the run only (and only where Python allows them: the main thread)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        self._installed += 1
        try:
            yield
        finally:
            self._installed -= 1
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum, committed=self.committed)
