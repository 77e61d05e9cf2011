"""The workspace lock: one run (or render) at a time, bounded waiting, the holder's pid in the lock file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from agent.errors import UnsafePathError, WorkspaceBusyError
from agent.files import refuse_links
from agent.options import DEFAULTS

if TYPE_CHECKING:
    from agent.workspace import Workspace

DEFAULT_TIMEOUT = DEFAULTS.lock_timeout


def _quiet(line: str) -> None:
    """Default ``log``: the caller did not ask to hear about waiting."""


@contextlib.contextmanager
def locked(workspace: Workspace, timeout: float = DEFAULT_TIMEOUT, log: Callable[[str], None] = _quiet) -> Iterator[None]:
    """Hold the workspace's exclusive lock (released by the OS if the process dies).

    Waits at most ``timeout`` seconds for another holder, then raises ``WorkspaceBusyError`` naming its pid.
    The lock file is never opened through a link.
    """
    path = workspace.lock_file
    refuse_links(workspace.consensus, path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if path.is_symlink():
            raise UnsafePathError(path, "is a symbolic link; the agent never writes through a link (remove it)") from None
        raise UnsafePathError(path, f"cannot open the lock file ({err.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(path, "is not a regular file (remove it)")
        _acquire(fd, workspace, timeout, log)
        _write_pid(fd)
        yield
    finally:
        os.close(fd)


def _acquire(fd: int, workspace: Workspace, timeout: float, log: Callable[[str], None]) -> None:
    deadline = time.monotonic() + timeout
    pause = 0.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not pause:
                log(f"waiting up to {timeout:g} s for {holder(fd)} to release {workspace.lock_file}")
            if time.monotonic() >= deadline:
                raise WorkspaceBusyError(workspace.lock_file, holder(fd), timeout) from None
            pause = min(pause * 2 or 0.02, 0.5)
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))


def _write_pid(fd: int) -> None:
    """Our pid, for the message of a run that waits; fixed width, so a full disk (no new block) rarely stops it."""
    with contextlib.suppress(OSError):  # informative only: never a reason to fail the run
        os.pwrite(fd, f"{os.getpid():<19}\n".encode(), 0)


def holder(fd: int) -> str:
    """``pid 1234`` as the holder wrote it into the lock file, or ``pid unknown``."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"
