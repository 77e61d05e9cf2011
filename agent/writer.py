"""Commit a decision to the workspace: stage every file, write the journal (the commit point), apply it.

1. Stage: each file the decision writes (the artifacts and the files rendered from the plan, or the
   veto) is written in full and fsynced as ``consensus/.devops-agent-staging/<id>.<n>`` (an artifact already
   holding exactly those bytes is kept as it is, its bytes synced with them, and left out of the journal); a name is chosen
   for the veto and for every archived message (never one that exists: one listing per folder). Every
   folder we will write into is checked first (no links, one file system, writable).
2. Journal: ``<id>.journal`` beside the staged files. Once it exists the decision is committed.
3. Apply (``agent.journal``): place the veto → append the log line → rename the artifacts into place
   (removing rendered files the plan no longer has) → archive the inbox → delete the journal and leftovers.

A failure before the log line is appended rolls everything back (nothing visible had changed); a crash
at any instant leaves a journal that the next run replays, or none, and then the next run sweeps the
staged files. See ``agent.journal``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from agent import decision_log
from agent import journal as journal_steps
from agent.artifacts import Approve, Decision, dump_yaml, iso, veto_message
from agent.errors import CommitError, InputError, UnsafePathError
from agent.files import encode, ensure_dir, fit_name, fsync_files, holds, refuse_links, sha256, write_new
from agent.inputs import Inputs
from agent.journal import FaultHook, Journal, no_fault, numbered, staging_root
from agent.workspace import Workspace

SOURCE_DOCUMENT = "artifacts/review.json"
UPSTREAM = ("artifacts/review.json", "artifacts/implementation.json", "artifacts/plan.json")
_UNDERSCORE_TS = re.compile(r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}")
_ISO_TS = re.compile(r"\d{8}T\d{6}Z?")
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
NOTHING_WRITTEN = "nothing was written"


def _nothing() -> None:
    """Default checkpoint: nothing asks the commit to stop."""


class Committed(NamedTuple):
    written: list[Path]
    """Every file of the decision, now in place."""
    archived: list[Path]
    log_entry: dict[str, Any]
    warnings: Sequence[str] = ()
    unchanged: Sequence[Path] = ()
    """Those of ``written`` that already held exactly these bytes: left as they were (not rewritten, times kept)."""


def printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept as surrogate escapes) become ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def filename_stamp(names: list[str], moment: datetime) -> str:
    """The workspace's style for timestamps in file names: ``2026_11_24_14_00_10`` unless it uses ISO."""
    iso_style = any(_ISO_TS.search(n) for n in names) and not any(_UNDERSCORE_TS.search(n) for n in names)
    return moment.strftime("%Y%m%dT%H%M%SZ" if iso_style else "%Y_%m_%d_%H_%M_%S")


def _listing(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)  # noqa: PTH208 - names only, one call per folder (10,000 names cost milliseconds)
    except (FileNotFoundError, NotADirectoryError):
        return []


def unique_name(name: str, taken: set[str], stamp: str) -> str:
    """``name``, else ``<stem>.<stamp><suffix>``, else ``<stem>.<stamp>_2<suffix>``...: O(1) per name against ``taken``."""
    candidate = fit_name(name)
    if candidate in taken:
        plain = Path(name)
        first = Path(fit_name(f"{plain.stem}.{stamp}{plain.suffix}"))
        candidate, n = first.name, 1
        while candidate in taken:
            n += 1
            candidate = numbered(first, n).name
    taken.add(candidate)
    return candidate


def refuse_unsafe(ws: Workspace) -> None:
    """Exit 2 naming the first link (or file where a folder belongs) among everything a run writes into."""
    for folder in (ws.artifacts, ws.quality_inbox, ws.processed, ws.devops_inbox, ws.transcripts, ws.decision_log.parent, staging_root(ws)):
        refuse_links(ws.consensus, folder, folder=True)
    for path in (ws.decision_log, ws.lock_file):
        refuse_links(ws.consensus, path)
        if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
            raise UnsafePathError(path, "is not a regular file")


class Writer:
    def __init__(
        self, inputs: Inputs, moment: datetime, fault: FaultHook = no_fault, checkpoint: Callable[[], None] = _nothing
    ) -> None:
        self.inputs = inputs
        self.ws = inputs.workspace
        self.moment = moment
        self.fault = fault
        self.checkpoint = checkpoint

    def commit(self, decision: Decision) -> Committed:
        """Write the decision; the caller holds ``locked(workspace)`` and has run ``journal.recover``."""
        root, commit = staging_root(self.ws), f"{self.moment.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{os.urandom(4).hex()}"
        journal: Journal | None = None
        kept: list[Path] = []
        try:
            journal, kept, order = self._prepare(decision, root, commit)
            self.checkpoint()  # a signal that arrived while staging stops us here, before the commit point
            journal.save()
            journal_steps.place_and_log(self.ws, journal, self.fault)
        except BaseException as err:
            if journal is None or not self._logged(journal):  # else the line reached the log: committed after all
                journal_steps.rollback(self.ws, journal, root, commit)
                if isinstance(err, OSError):
                    raise CommitError.from_os_error(err, root, NOTHING_WRITTEN) from None
                raise
        return self._finish(journal, kept, order)

    def _logged(self, journal: Journal) -> bool:
        try:
            return decision_log.contains(self.ws.consensus / journal.log, decision_log.encode(journal.entry))
        except (OSError, InputError):  # unreadable, or no longer a regular file: our line cannot be in it
            return False

    def _finish(self, journal: Journal, kept: list[Path], order: list[Path]) -> Committed:
        try:
            journal_steps.replace_artifacts(self.ws, journal, self.fault)
        except OSError as err:
            state = f"the decision is logged but not every artifact is in place; the next run completes it (journal {journal.path})"
            raise CommitError.from_os_error(err, journal.path, state) from None
        warnings = journal_steps.archive_inbox(self.ws, journal, self.fault)
        if not warnings:
            journal_steps.finish(journal, self.fault)
        # A veto's name may have changed while it was placed; an approval's files are the plan's, in its order.
        written = [self.ws.consensus / target for _, target in journal.place] if journal.place else order
        archived = [self.ws.consensus / target for _, target in journal.archive]
        return Committed(written, archived, journal.entry, warnings, kept)

    def _prepare(self, decision: Decision, root: Path, commit: str) -> tuple[Journal, list[Path], list[Path]]:
        """Stage every file (fsynced) under the staging folder; nothing visible changes here.

        An artifact that already holds exactly the bytes the decision writes (a run deciding again on the same
        inputs: most rendered files) is kept as it is, not staged and renamed over itself: returned as kept, beside
        every file of the decision in order.
        """
        files = self._files(decision)
        self._preflight([self.ws.consensus / r for r in files], root)
        journal = Journal(root, commit, {}, self.ws.relative(self.ws.decision_log))
        ensure_dir(self.ws.consensus, root)
        digests, pairs, kept = {}, [], []
        for n, (relative, data) in enumerate(files.items()):
            digests[relative] = _sha256(data)
            if isinstance(decision, Approve) and holds(self.ws.consensus / relative, data):
                kept.append(self.ws.consensus / relative)
                continue
            write_new(journal.staged(f"{commit}.{n}"), data, sync=False)
            pairs.append([f"{commit}.{n}", relative])
            self.fault(f"staged:{relative}")
        # All durable before the journal names them; a kept file's bytes and name too (no work when they already are).
        fsync_files([journal.staged(staged) for staged, _ in pairs], data_only=kept + sorted({p.parent for p in kept}))
        self.fault("staged")
        if isinstance(decision, Approve):
            journal.replace, journal.remove = pairs, self._stale(decision)
        else:
            journal.place = pairs
        journal.archive = self._archive_names()
        journal.entry = self.log_entry(decision, digests)
        return journal, kept, [self.ws.consensus / relative for relative in files]

    def _files(self, decision: Decision) -> dict[str, bytes]:
        """Every file the decision writes, by path relative to consensus/."""
        if not isinstance(decision, Approve):
            name = f"veto_{filename_stamp(self._names(), self.moment)}.yaml"
            taken = set(_listing(self.ws.quality_inbox))
            chosen, n = Path(name), 1
            while chosen.name in taken:
                n += 1
                chosen = numbered(Path(name), n)
            return {f"messages/inbox/quality/{chosen.name}": encode(dump_yaml(veto_message(decision, self.inputs, self.moment)))}
        files = {
            "artifacts/deployment.json": encode(json.dumps(decision.deployment, indent=2, ensure_ascii=False) + "\n"),
            "artifacts/cicd.yaml": encode(_ending(decision.cicd)),
            "artifacts/runbook.md": encode(_ending(decision.runbook)),
        }
        for relative, text in sorted(decision.derived.items()):
            files[f"artifacts/{_derived_path(relative)}"] = encode(_ending(text))
        return files

    def _stale(self, decision: Approve) -> list[str]:
        """Rendered files on disk that this plan no longer renders; removed with the commit, so the set is the plan's."""
        if not decision.derived:
            return []
        from agent.rendering.manifests import stale  # only plans with rendered files pay for the import

        return [f"artifacts/{relative}" for relative in stale(self.ws.artifacts, decision.derived)]

    def _names(self) -> list[str]:
        return [n for d in (self.ws.devops_inbox, self.ws.processed, self.ws.quality_inbox) for n in _listing(d)]

    def _archive_names(self) -> list[list[str]]:
        """A processed/ name for every message: one listing of processed/, then O(1) per message."""
        if not self.inputs.messages:
            return []
        taken = set(_listing(self.ws.processed))
        stamp = filename_stamp(list(taken), self.moment)
        inbox, processed = self.ws.relative(self.ws.devops_inbox), self.ws.relative(self.ws.processed)
        return [[f"{inbox}/{m.file}", f"{processed}/{unique_name(m.file, taken, stamp)}"] for m in self.inputs.messages]

    def _preflight(self, targets: list[Path], root: Path) -> None:
        """Before anything is written: no folder on the way is a link, all sit on one file system, all are writable."""
        folders = {t.parent for t in targets} | {self.ws.decision_log.parent, root}
        if self.inputs.messages:
            folders |= {self.ws.processed, self.ws.devops_inbox}
        home = self.ws.consensus.stat().st_dev
        for target in sorted(folders):
            deepest = refuse_links(self.ws.consensus, target, folder=True)
            if not os.access(deepest, os.W_OK | os.X_OK):
                code = errno.EROFS if _read_only(deepest) else errno.EACCES
                raise OSError(code, os.strerror(code), str(deepest))
            if target != self.ws.processed and deepest.stat().st_dev != home:
                raise OSError(errno.EXDEV, f"{os.strerror(errno.EXDEV)}: on another file system than consensus/", str(deepest))
        for path in (self.ws.decision_log, *targets):  # every folder on their way was checked above: the name itself
            refuse_links(path.parent, path, file=True)

    def log_entry(self, decision: Decision, digests: dict[str, str]) -> dict[str, Any]:
        if isinstance(decision, Approve):
            strategy = decision.deployment.get("deployment_strategy", {}).get("type")
            details: dict[str, Any] = {
                "deployment_ready": True,
                "strategy": strategy,
                "monitoring_configured": True,
                "runbook_created": True,
            }
        else:
            details = {"subject": decision.subject, "blocking": True, "veto_source": decision.source}
        details["artifacts"] = list(digests)
        # Rendered files follow deployment.json and may be re-rendered by hand (`render`); their drift is
        # validate's `manifests.up_to_date`, so only the decision's own files make it "already decided".
        details["files"] = {k: v for k, v in digests.items() if not k.startswith(DERIVED_PREFIXES)}
        if decision.reason:
            details["reason"] = decision.reason
        return {
            "timestamp": iso(self.moment),
            "agent": "devops",
            "decision": decision.kind,
            "epic_id": self.inputs.epic_id,
            "iteration": self.inputs.iteration,
            "source_document": SOURCE_DOCUMENT,
            "previous_artifacts": [*UPSTREAM, *(f"messages/inbox/devops/{printable(m.file)}" for m in self.inputs.messages)],
            "details": details,
        }


def _ending(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


DERIVED_PREFIXES = ("artifacts/k8s/", "artifacts/prometheus/")


def _sha256(data: bytes) -> str:
    return sha256(data).hexdigest()


def _derived_path(relative: str) -> str:
    """A rendered file's path below artifacts/: plain names only, never ``..``, absolute or hidden."""
    parts = PurePosixPath(relative).parts
    if not parts or not all(_SAFE_PART.fullmatch(p) and p not in {".", ".."} for p in parts) or relative.startswith("/"):
        raise CommitError(Path(relative), "a rendered file's path must be relative, below artifacts/, of plain names")
    return "/".join(parts)


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
