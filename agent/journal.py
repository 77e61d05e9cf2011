"""The commit journal: what a committed decision still has to do, replayed until it is done.

Everything sits flat in ``consensus/.devops-agent-staging/``: for a commit ``<id>``, its staged files
``<id>.0``, ``<id>.1``... and its journal ``<id>.journal``, which lists the decision-log line, the new
files to place (a veto: never over another file), the artifacts to replace, the stale rendered files to
remove and the inbox messages to archive. The journal's presence is the commit point. Applying it:

    place new files → append the log line → replace artifacts (and remove stale rendered ones) → archive the inbox
    → delete the journal and the staged leftovers

Every step can run again after a crash: a placed file is recognised (same inode or same bytes), the log
line is looked for before appending, a staged file already renamed is gone, a message already moved is
gone from the inbox. ``recover`` (first thing under the lock) replays every journal it finds and sweeps
staged files without a journal and temp files a killed run left behind. Durability: staged files and the
journal are fsynced (and their folder, once) before anything visible changes; the log and every folder
changed are fsynced before the journal is deleted.

A journal is replayed only if it is one our writer could have written (``Journal.load``): the log is this
workspace's, every path is relative, link-free and of the kind its step touches (artifacts/, the veto,
inbox → processed/), staged names are its own. Anything else is an ``InputError`` (exit 2) naming the
journal and the field, and the journal stays on disk for someone to inspect.

``fault(point)`` is called as each point is reached; tests kill the process there, or raise ``OSError``
to make the step after it fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import decision_log
from agent.documents import read_text
from agent.errors import CommitError, InputError
from agent.files import TMP_PREFIX, atomic_write, ensure_dir, fit_name, fsync_dir, open_folder, place_new, refuse_links, same_file

if TYPE_CHECKING:
    from agent.workspace import Workspace

FaultHook = Callable[[str], None]
STAGING = ".devops-agent-staging"
JOURNAL = ".journal"
INBOX = "messages/inbox/devops/"
MAX_BYTES = 64 * 1024 * 1024
"""The largest journal written or read. A journal grows ~200 bytes a message archived (~300,000 messages fit; a
255-byte name that is not UTF-8, escaped, takes ~3 kB). A larger file in the staging folder is none of ours: it is
refused unread, not read whole into memory."""


def no_fault(point: str) -> None:
    """Tests replace this to kill the process (or fail a step) at a named point of the commit."""


class Journal:
    """One commit's plan, saved before anything visible changes: what to place, replace, archive and remove."""

    def __init__(self, root: Path, id: str, entry: dict[str, Any], log: str) -> None:
        self.root, self.id, self.entry, self.log = root, id, entry, log
        self.place: list[list[str]] = []
        """[staged name, target relative to consensus/]: new files, never over another file."""
        self.replace: list[list[str]] = []
        """[staged name, target relative to consensus/]: artifacts renamed over what is there."""
        self.archive: list[list[str]] = []
        """[inbox message, its name in processed/], both relative to consensus/."""
        self.remove: list[str] = []
        """Rendered files an earlier plan wrote that this one does not (another strategy's workload, say)."""

    @property
    def path(self) -> Path:
        return self.root / f"{self.id}{JOURNAL}"

    def staged(self, name: str) -> Path:
        return self.root / name

    def save(self) -> None:
        """Write the journal (the commit point); one over ``MAX_BYTES`` is an InputError naming the inbox, unwritten."""
        # ensure_ascii keeps a non-UTF-8 file name (a surrogate escape) exact through the round trip, and makes
        # every character a byte.
        body = {"version": 1, "entry": self.entry, "log": self.log, "place": self.place, "replace": self.replace}
        body |= {"archive": self.archive, "remove": self.remove}
        text = json.dumps(body, ensure_ascii=True, indent=1) + "\n"
        if len(text) > MAX_BYTES:
            inbox = self.root.parent / INBOX
            raise InputError(
                inbox,
                f"the commit's journal would take {len(text):,} bytes (messages to archive: {len(self.archive):,}), over "
                f"the {MAX_BYTES:,}-byte limit; move some messages to messages/processed/ by hand, then run again",
            )
        atomic_write(self.path, text)

    @classmethod
    def load(cls, path: Path, ws: Workspace) -> Journal:
        """The journal at ``path``, refused (exit 2, naming the field) unless it is one our writer could have written."""
        try:
            # A regular file, never through a link, never waited on (a FIFO), never read past the limit.
            body = json.loads(read_text(path, max_bytes=MAX_BYTES))
        except InputError as err:
            raise _refused(path, None, f"cannot be read ({err.problem})") from None
        except (ValueError, RecursionError) as err:
            raise _refused(path, None, f"cannot be read ({err})") from None
        if not isinstance(body, dict):
            raise _refused(path, None, "is not a JSON object")
        entry, log = body.get("entry"), body.get("log")
        if not isinstance(entry, dict) or entry.get("agent") != "devops" or entry.get("decision") not in {"approve", "veto"}:
            raise _refused(path, "entry", "is not a devops approve/veto decision line")
        if log != ws.relative(ws.decision_log):
            raise _refused(path, "log", f"is not this workspace's decision log ({ws.relative(ws.decision_log)})")
        journal = cls(path.parent, path.name.removesuffix(JOURNAL), entry, str(log))
        journal.place, journal.replace = _pairs(path, body, "place"), _pairs(path, body, "replace")
        journal.archive, journal.remove = _pairs(path, body, "archive"), _names(path, body, "remove")
        _check(ws, journal)
        return journal


# What agent.writer puts in a journal, and nothing else: a replayed journal acts on these paths only.
_PLAIN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_RENDERED = re.compile(rf"artifacts/(k8s|prometheus)(/{_PLAIN})+")
_INSPECT = "this interrupted commit's journal was not replayed; inspect it, then delete it to drop that decision"


def _refused(path: Path, name: str | None, problem: str) -> InputError:
    return InputError(path, f"{problem}: {_INSPECT}", field=name)


def _pairs(path: Path, body: dict[str, Any], name: str) -> list[list[str]]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value):
        raise _refused(path, name, "is not a list of [from, to] path pairs")
    return value


def _names(path: Path, body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise _refused(path, name, "is not a list of paths")
    return value


def _check(ws: Workspace, journal: Journal) -> None:
    """Every path relative, inside consensus/ and of the kind its step writes (no link on the way)."""
    staged = re.compile(rf"{re.escape(journal.id)}\.\d+")
    for name, pairs in (("place", journal.place), ("replace", journal.replace)):
        for n, (source, target) in enumerate(pairs):
            _expect(journal, f"{name}[{n}][0]", source, staged.fullmatch(source) is not None)
            _expect(journal, f"{name}[{n}][1]", target, decision_log.VETO_FILE.fullmatch(target) if name == "place" else _artifact(target))
    for n, target in enumerate(journal.remove):
        _expect(journal, f"remove[{n}]", target, _artifact(target))
    for n, (source, target) in enumerate(journal.archive):
        _expect(journal, f"archive[{n}][0]", source, _single(source, INBOX))
        _expect(journal, f"archive[{n}][1]", target, _single(target, "messages/processed/"))
    staged_files = [journal.staged(s) for s, _ in journal.place + journal.replace]
    moved = [ws.consensus / t for _, t in journal.place + journal.replace + journal.archive]
    sources = [ws.consensus / s for s, _ in journal.archive]
    for path in [ws.decision_log, *staged_files, *moved, *sources, *(ws.consensus / r for r in journal.remove)]:
        refuse_links(ws.consensus, path)  # a link inside consensus/ could still lead outside it


def _expect(journal: Journal, name: str, value: str, ok: object) -> None:
    if not ok or not _relative(value):
        raise _refused(journal.path, name, f"{value!r} is not a path this step of a devops commit writes")


def _relative(value: str) -> bool:
    parts = value.split("/")
    return bool(value) and "\x00" not in value and not value.startswith("/") and all(p not in {"", ".", ".."} for p in parts)


def _artifact(value: str) -> bool:
    return value in decision_log.APPROVE_FILES or _RENDERED.fullmatch(value) is not None


def _single(value: str, folder: str) -> bool:
    """``folder`` + one plain file name (any bytes but ``/`` and NUL: inbox names are whatever was sent)."""
    return value.startswith(folder) and "/" not in value.removeprefix(folder)


def staging_root(workspace: Workspace) -> Path:
    return workspace.consensus / STAGING


def numbered(path: Path, n: int) -> Path:
    """``veto_<ts>.yaml`` → ``veto_<ts>_2.yaml``: the name tried when ``path`` is taken."""
    return path.with_name(fit_name(f"{path.stem}_{n}{path.suffix}"))


def place_and_log(ws: Workspace, journal: Journal, fault: FaultHook) -> None:
    """The steps before which nothing visible has changed (``rollback`` can still undo them)."""
    fault("journal")
    with _Folders(ws) as folders:
        for pair in journal.place:
            target = _place(ws, journal, pair, folders)
            fault(f"placed:{ws.relative(target)}")
    line = decision_log.encode(journal.entry)
    log = ws.consensus / journal.log
    if not decision_log.contains(log, line):
        ensure_dir(ws.consensus, log.parent)
        decision_log.append(log, line)
    fault("logged")


def _place(ws: Workspace, journal: Journal, pair: list[str], folders: _Folders) -> Path:
    chosen, staged = ws.consensus / pair[1], journal.staged(pair[0])
    if not os.path.lexists(staged):
        return chosen  # placed, and the staged copy cleaned up, by an earlier pass
    target = _free_name(folders, staged, chosen)
    if target != chosen:  # another writer took the name since staging: record ours before the log line names it
        old, new = pair[1], ws.relative(target)
        details = journal.entry["details"]
        details["files"] = {new if k == old else k: v for k, v in details.get("files", {}).items()}
        details["artifacts"] = [new if a == old else a for a in details.get("artifacts", [])]
        pair[1] = new
        journal.save()
    return target


def _free_name(folders: _Folders, source: Path, chosen: Path) -> Path:
    """Where ``source`` is placed: ``chosen``, else ``chosen`` numbered (``_2``, ``_3``…), never over another file,
    whatever appeared since staging."""
    dirs = (folders(source.parent), folders(chosen.parent))
    target, n = chosen, 1
    while not place_new(source.name, target.name, dirs):
        n += 1
        target = numbered(chosen, n)
    return target


class _Folders:
    """Descriptors of the folders one commit step goes through, each opened once, one name at a time from consensus/
    without following a link (created where missing), and closed when the step ends: every rename, link and removal
    goes through them, so no path is looked up again and a folder swapped for a link cannot redirect one."""

    def __init__(self, ws: Workspace) -> None:
        self.ws, self.opened = ws, dict[Path, int]()

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.opened.values():
            os.close(fd)

    def __call__(self, folder: Path) -> int:
        if folder not in self.opened:
            self.opened[folder] = open_folder(self.ws.consensus, folder)
        return self.opened[folder]


def replace_artifacts(ws: Workspace, journal: Journal, fault: FaultHook) -> None:
    """Rename each staged artifact into its folder, remove the stale ones, then fsync every folder changed."""
    with _Folders(ws) as folders:
        for name, relative in journal.replace:
            staged, target = journal.staged(name), ws.consensus / relative
            if os.path.lexists(staged):
                os.replace(staged, target.name, dst_dir_fd=folders(target.parent))
            fault(f"renamed:{relative}")
        for relative in journal.remove:
            stale = ws.consensus / relative
            if os.path.lexists(stale):
                os.unlink(stale.name, dir_fd=folders(stale.parent))
            fault(f"removed:{relative}")
        for folder in sorted(folders.opened):
            os.fsync(folders.opened[folder])
    fault("renamed")


def archive_inbox(ws: Workspace, journal: Journal, fault: FaultHook) -> list[str]:
    """Move each message to ``processed/`` under its chosen name; a failure is a warning, the journal stays.

    The links and removals go through descriptors of the two folders (``_Folders``; 10,000 messages: one walk to each
    folder, not 10,000). Where hard links are impossible (``processed/`` on another file system) ``place_new`` copies
    the message through the same descriptors, never through a link.
    """
    warnings: list[str] = []
    if not journal.archive:
        return warnings
    with _Folders(ws) as folders:
        for pair in journal.archive:
            source = ws.consensus / pair[0]
            if not os.path.lexists(source):
                continue
            try:
                _archive_one(ws, journal, pair, source, fault, folders)
            except OSError as err:
                warnings.append(
                    f"could not archive {pair[0]} to {pair[1]} ({err.strerror}); the decision is committed, the next run moves it"
                )
        if warnings:  # a message that could not be moved is still in the inbox: the journal stays for the next run
            return warnings
        for folder in (ws.processed, ws.devops_inbox):
            if folder in folders.opened:
                os.fsync(folders.opened[folder])
            else:  # every message was moved by an earlier pass
                fsync_dir(folder)
    return warnings


def _archive_one(ws: Workspace, journal: Journal, pair: list[str], source: Path, fault: FaultHook, folders: _Folders) -> None:
    fault(f"archive:{source.name}")
    chosen = ws.consensus / pair[1]
    target = _free_name(folders, source, chosen)
    if target != chosen:
        pair[1] = ws.relative(target)
        journal.save()
    fault(f"linked:{source.name}")
    os.unlink(source.name, dir_fd=folders(source.parent))
    fault(f"archived:{source.name}")


def finish(journal: Journal, fault: FaultHook) -> None:
    """Done: the journal goes first (the commit needs nothing more), then the staged leftovers.

    No fsync: should the deletion be lost, the journal replays as a no-op (every step finds itself done).
    """
    journal.path.unlink()
    fault("unjournaled")
    _drop_staged(journal.root, journal.id)


def _drop_staged(root: Path, commit: str) -> None:
    for name in _listing(root):
        if name.startswith(f"{commit}."):
            (root / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty


def _listing(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)  # noqa: PTH208 - names only
    except (FileNotFoundError, NotADirectoryError):
        return []


def rollback(ws: Workspace, journal: Journal | None, root: Path, commit: str) -> None:
    """Undo a commit whose log line was not written: unplace our new files, drop what was staged."""
    if journal is not None:
        for staged, relative in journal.place:
            target = ws.consensus / relative
            if same_file(journal.staged(staged), target):
                target.unlink()
    _drop_staged(root, commit)


def recover(ws: Workspace, fault: FaultHook = no_fault) -> list[str]:
    """Finish every committed decision a killed run left, sweep what was never committed; return warnings."""
    warnings: list[str] = []
    root = staging_root(ws)
    if root.is_dir() and not root.is_symlink():
        for name in sorted(n for n in _listing(root) if n.endswith(JOURNAL) and not n.startswith(".")):
            warnings += _recover_one(ws, root / name, fault)
        kept = {n.removesuffix(JOURNAL) for n in _listing(root) if n.endswith(JOURNAL)}
        for name in _listing(root):
            if name.split(".")[0] not in kept:  # never committed, or a killed write's temp file
                try:
                    (root / name).unlink(missing_ok=True)
                except IsADirectoryError:  # the agent stages files only: a folder here is someone else's
                    warnings.append(f"{root / name}: a folder in the staging folder, which the agent never makes; left as it is")
        with contextlib.suppress(OSError):
            root.rmdir()
    _sweep_temp_files(ws)
    return warnings


def _recover_one(ws: Workspace, path: Path, fault: FaultHook) -> list[str]:
    journal = Journal.load(path, ws)
    try:
        place_and_log(ws, journal, fault)
        replace_artifacts(ws, journal, fault)
    except OSError as err:
        state = f"an earlier run committed a decision that could not be completed (journal {path})"
        raise CommitError.from_os_error(err, path, state) from None
    left = archive_inbox(ws, journal, fault)
    if not left:
        finish(journal, fault)
    entry = journal.entry
    what = f"{entry.get('decision')} of {entry.get('epic_id')} iteration {entry.get('iteration')}"
    return [*left, f"completed the commit of an earlier run that was interrupted ({what})"]


def _sweep_temp_files(ws: Workspace) -> None:
    for folder in (ws.artifacts, ws.quality_inbox, ws.processed, ws.transcripts, ws.decision_log.parent):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()
