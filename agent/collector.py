"""The cycle collector, paused while a bounded command or a bulk parse builds data that holds no cycles."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def paused() -> contextlib.AbstractContextManager[None]:
    """No cycle collection inside; the collector as it was after.

    Reference counting still frees every object the moment nothing refers to it; a paused collector only defers
    garbage that refers to itself, which parsing JSON, YAML and log lines never makes (a test runs 200 inbox messages
    and counts the cycles left). Running, it rescans the growing set of young containers again and again: a 13 MB
    implementation.json parses in ~140 ms paused, ~160 ms not, and importing modules pays the same toll
    (`make bench`, README).
    """
    return _collecting(False)


def running() -> contextlib.AbstractContextManager[None]:
    """The collector on inside (the process entry point starts with it off); as it was after."""
    return _collecting(True)


@contextlib.contextmanager
def _collecting(on: bool) -> Iterator[None]:
    was = gc.isenabled()
    _set(on)
    try:
        yield
    finally:
        _set(was)


def _set(on: bool) -> None:
    if on:
        gc.enable()
    else:
        gc.disable()


def skip_at_exit() -> None:
    """Spare the process's exit a last collection: the interpreter's final one would only walk every object still
    alive (modules, models, schemas; ~12 ms of a `validate`). Everything the agent writes is flushed and closed
    before this; only the entry point calls it, never ``main`` (tests call that many times in one process)."""
    gc.freeze()
