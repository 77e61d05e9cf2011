"""The cycle collector, paused while a bounded command or a bulk parse builds data that holds no cycles; and the
process's end, which skips the interpreter's teardown."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn


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


_lock = threading.RLock()  # re-entrant: a finaliser run by a collection inside the lock may open a block too
_inside = {False: 0, True: 0}
"""How many ``paused()`` (False) and ``running()`` (True) blocks are open, in every thread: the state is process-wide."""
_before = True
"""The collector's state when the first of them opened, restored when the last one closes."""


@contextlib.contextmanager
def _collecting(on: bool) -> Iterator[None]:
    global _before
    with _lock:
        if not any(_inside.values()):
            _before = gc.isenabled()
        _inside[on] += 1
        _apply()
    try:
        yield
    finally:
        with _lock:
            _inside[on] -= 1
            _apply()


def _apply() -> None:
    """Off while any pause is open (a bulk parse inside a conversation, or in another thread), else on while a
    ``running()`` block is open, else as it was before the first block."""
    on = _before if not any(_inside.values()) else not _inside[False]
    if on:
        gc.enable()
    else:
        gc.disable()


_exit_code: int | None = None
"""Set by ``end_process``: the code the last exit handler ends the process with."""


def end_teardown_early() -> bool:
    """Make the process's last exit handler end it before the interpreter's teardown; called first thing by
    ``agent/__main__.py``, so that handler runs after every other (``atexit`` runs them last-registered first).

    The teardown clears ~240 modules and frees every object still alive (~6 ms of each command, `make bench`), and a
    finished command needs none of it: every file the agent writes is fsynced and closed before ``main`` returns. A
    handler someone registered earlier (a coverage hook in a ``.pth`` file, say) would run after ours, so then nothing
    is installed and the process exits as usual; so it does where ``atexit`` cannot count its handlers. False then.
    """
    count = getattr(atexit, "_ncallbacks", None)
    if count is None or count() != 0:
        return False
    atexit.register(_end_now)
    return True


def end_process(code: int) -> NoReturn:
    """The entry point's exit with ``code``, never ``main``'s (tests call that many times in one process)."""
    global _exit_code
    _exit_code = code
    # Should the teardown run after all (a failed flush, or end_teardown_early found a handler), it skips its last
    # collection: that would only walk every object still alive (modules, models, schemas; ~12 ms of a `validate`).
    gc.freeze()
    raise SystemExit(code)


def _end_now() -> None:
    """The last exit handler: the interpreter has joined the threads and run every other handler."""
    if _exit_code is None:  # the entry point did not finish: the usual exit
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit reports it as Python does
        return
    os._exit(_exit_code)
