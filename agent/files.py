"""The one way the agent writes a file: a temp file beside the target, fsynced, then renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

TMP_PREFIX = ".devops-agent-tmp-"


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part.

    The temp file is created with ``O_EXCL | O_NOFOLLOW`` (a planted link is never followed),
    fsynced, renamed over ``path``, and the folder is fsynced so the rename survives a crash.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.parent / f"{TMP_PREFIX}{os.getpid()}-{path.name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
