"""The one way the agent writes a file, and the checks that keep every write inside the workspace.

Files are written to a temp file beside the target, fsynced, then renamed into place. Nothing is ever
written through a symbolic link: folders are checked component by component with ``lstat`` and files are
opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import UnsafePathError

if TYPE_CHECKING:
    from hashlib import sha256 as sha256
else:  # the interpreter's own SHA-256, as `random` takes its SHA-512: OpenSSL's libcrypto (~3.4 MB) is not loaded at each start
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11
        except ImportError:  # an interpreter built without them
            from hashlib import sha256

TMP_PREFIX = ".devops-agent-tmp-"
NO_LINKS = "the agent never writes through a link (replace it with a real folder or file)"
NAME_MAX = 255


def encode(text: str) -> bytes:
    """UTF-8; a lone surrogate (from a lenient JSON parse) becomes the escape ``\\udcff``, valid in JSON strings."""
    return text.encode("utf-8", "backslashreplace")


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part.

    The temp file is created with ``O_EXCL | O_NOFOLLOW`` (a planted link is never followed),
    fsynced, renamed over ``path`` (a link at ``path`` is replaced, not followed), and the folder
    is fsynced so the rename survives a crash.
    """
    raw = encode(data) if isinstance(data, str) else data
    tmp = path.parent / f"{TMP_PREFIX}{os.getpid()}-{path.name}"
    write_new(tmp, raw, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_new(path: Path | str, data: bytes, *, mode: int = 0o644, sync: bool = True, dir_fd: int | None = None) -> None:
    """Create ``path`` (never an existing file, never through a link), write ``data`` and fsync it.

    ``sync=False`` leaves the fsync to the caller (``fsync_files``, for many files at once). With ``dir_fd``,
    ``path`` is a name in that folder.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        try:
            rest = memoryview(data)
            while rest:
                rest = rest[os.write(fd, rest) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path, dir_fd=dir_fd)
        raise


def fsync_files(paths: list[Path], *, data_only: list[Path] | None = None, workers: int = 8) -> None:
    """fsync every file, several at a time: the file system commits concurrent syncs together (one journal
    commit for many files on ext4/xfs) instead of one after another. The first error is raised.

    ``data_only`` files get ``fdatasync``: their bytes made durable, not their times (reading a file may have
    touched its access time; syncing that costs ~0.2 ms a file, and nothing needs it).
    """
    pending = [(p, os.fdatasync) for p in reversed(data_only or [])] + [(p, os.fsync) for p in reversed(paths)]
    errors: list[BaseException] = []

    def work() -> None:
        while pending and not errors:
            try:
                path, sync = pending.pop()
            except IndexError:
                return
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    sync(fd)
                finally:
                    os.close(fd)
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(pending)) - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_links(root: Path, path: Path, *, folder: bool = False, file: bool = False) -> Path:
    """Check every existing component of ``path`` below ``root``; return the deepest one that exists.

    A symbolic link anywhere on the way is refused (exit 2), so nothing we write can land outside
    ``root``; so is a file where a folder is needed (``folder``: ``path`` itself must be one too), and, with ``file``,
    a folder at ``path`` itself (where a file is to be renamed: no rename could replace it).
    """
    deepest, current = root, root
    parts = path.relative_to(root).parts
    for n, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(current, f"is a symbolic link; {NO_LINKS}")
        if (folder or n < len(parts) - 1) and not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(current, "is not a folder")
        if file and n == len(parts) - 1 and stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(current, "is a folder where the agent writes a file (remove it)")
        deepest = current
    return deepest


def ensure_dir(root: Path, folder: Path) -> Path:
    """Create ``folder`` (and its parents below ``root``) refusing links on the way; return it."""
    os.close(open_folder(root, folder))
    return folder


def open_folder(root: Path, folder: Path) -> int:
    """A descriptor of ``folder`` (created where missing), opened one name at a time from ``root`` and never through a
    link: no path is looked up again after its check, so a folder swapped for a link meanwhile is refused, not followed.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        current = root
        for part in folder.relative_to(root).parts:
            current = current / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                linked = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                raise UnsafePathError(current, f"is {'a symbolic link' if linked else 'not a real folder'}; {NO_LINKS}") from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


class NotRegularFile(OSError):
    """A device, FIFO or socket where a file is read (a folder is an ``IsADirectoryError``)."""


def open_regular(path: Path | str, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """A read descriptor of the regular file ``path`` (a name in ``dir_fd`` when given) and its status.

    Never through a link (``O_NOFOLLOW``) and never waiting: a FIFO planted where a file is expected is
    refused, not blocked on (``O_NONBLOCK``, which a regular file ignores). Anything but a regular file is an OSError:
    ``IsADirectoryError`` for a folder, ``NotRegularFile`` for the rest.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dir_fd)
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return fd, info
    os.close(fd)
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))


def sha256_of(path: Path | str, dir_fd: int | None = None) -> str | None:
    """The file's sha256, or None when it is missing, a link or not a regular file."""
    try:
        fd, _ = open_regular(path, dir_fd)
    except OSError:
        return None
    digest = sha256()
    with os.fdopen(fd, "rb", buffering=0) as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def same_file(a: Path | str, b: Path | str, dirs: tuple[int | None, int | None] = (None, None)) -> bool:
    try:
        first, second = os.stat(a, dir_fd=dirs[0], follow_symlinks=False), os.stat(b, dir_fd=dirs[1], follow_symlinks=False)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def place_new(source: str, target: str, dirs: tuple[int, int]) -> bool:
    """Give the file ``source`` the name ``target`` without ever replacing another file; False if the name is taken.

    Both are names in folders the caller checked and opened (``dirs``: source's, target's), and every step goes
    through those descriptors. A hard link does it atomically; where links are impossible (another file system, or
    one without hard links) the bytes of ``source``, a regular file opened without following a link, are copied to a
    temp file beside ``target`` first. ``source`` stays. Calling it again after a crash is harmless: a ``target``
    that already is ``source`` (or holds its bytes) counts as placed.
    """
    try:
        os.link(source, target, src_dir_fd=dirs[0], dst_dir_fd=dirs[1], follow_symlinks=False)
        return True
    except FileExistsError:
        return same_file(source, target, dirs) or _same_bytes(source, target, dirs)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    with os.fdopen(open_regular(source, dirs[0])[0], "rb") as handle:
        data = handle.read()
    folder, tmp = dirs[1], f"{TMP_PREFIX}{os.getpid()}-copy"
    write_new(tmp, data, dir_fd=folder)
    try:
        os.link(tmp, target, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        return _same_bytes(source, target, dirs)
    except OSError:
        if _lexists(target, folder):
            return _same_bytes(source, target, dirs)
        os.rename(tmp, target, src_dir_fd=folder, dst_dir_fd=folder)  # no hard links at all; the lock keeps our runs out
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=folder)
    return True


def holds(path: Path, data: bytes) -> bool:
    """``path`` is what writing ``data`` there would make: a regular file of one name (not a link, not hard-linked
    elsewhere), ours, with no permission beyond ``rw-r--r--``, holding exactly ``data``.
    """
    try:
        fd, info = open_regular(path)
    except OSError:
        return False
    try:
        if info.st_nlink != 1 or info.st_size != len(data):
            return False
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & ~0o644:
            return False
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _same_bytes(a: str, b: str, dirs: tuple[int, int]) -> bool:
    digest = sha256_of(a, dirs[0])
    return digest is not None and digest == sha256_of(b, dirs[1])


def fit_name(name: str) -> str:
    """``name`` shortened (keeping its suffix) so that it fits the file system's 255-byte limit."""
    if len(os.fsencode(name)) <= NAME_MAX:
        return name
    stem, dot, suffix = name.rpartition(".") if "." in name[1:] else (name, "", "")
    keep = stem
    while keep and len(os.fsencode(keep + dot + suffix)) > NAME_MAX:
        keep = keep[:-1]
    return keep + dot + suffix
