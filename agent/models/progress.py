"""The live line a terminal shows while a reply streams: turn, output so far, what is being written.

Only used when stderr is a terminal; elsewhere the run logs one line per tool call instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from agent.prompting.budget import tokens

CLEAR = "\r\x1b[K"


class LiveLine:
    """Rewrites one stderr line in place, at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO, turn: Callable[[], int], *, interval: float = 0.1, clock: Callable[[], float] = time.monotonic):
        self.stream, self.turn, self.interval, self.clock = stream, turn, interval, clock
        self.shown = False
        self.last = float("-inf")
        self.writing = ""

    def __call__(self, writing: str, chars: int) -> None:
        now = self.clock()
        if writing == self.writing and now - self.last < self.interval:
            return
        self.writing, self.last = writing, now
        label = "thinking" if writing == "thinking" else f"writing {writing}"
        self.stream.write(f"{CLEAR}turn {self.turn()} · ~{tokens(chars):,} tokens so far · {label}")
        self.stream.flush()
        self.shown = True

    def before(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """``log`` that first erases the live line, so a log line never lands in the middle of it."""

        def logged(line: str) -> None:
            self.clear()
            log(line)

        return logged

    def clear(self) -> None:
        """Erase the line (before a log line is printed, and at the end)."""
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False
