"""Commit a decision to the workspace: atomic files, one decision-log line, inbox archived.

Order matters for crash safety. Every file is first written in full to a temp
file beside its destination and fsynced; then the files are renamed into place;
only then is the decision-log line appended (one ``write`` on an ``O_APPEND``
descriptor); inbox messages move last. A crash at any instant therefore leaves
either no decision logged, or a logged decision with all of its artifacts —
never half a file. Temp files a killed run left behind are swept at the next
commit, under the same lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.artifacts import Approve, Decision, dump_yaml, iso, veto_message
from agent.errors import CommitError
from agent.workspace import Inputs, Workspace

FaultHook = Callable[[str], None]
TMP_PREFIX = ".devops-agent-tmp-"
SOURCE_DOCUMENT = "artifacts/review.json"
UPSTREAM = ("artifacts/review.json", "artifacts/implementation.json", "artifacts/plan.json")
_UNDERSCORE_TS = re.compile(r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}")


def _no_fault(point: str) -> None:
    """Tests replace this to kill the process at a named point of the commit."""


@dataclass(frozen=True)
class Committed:
    written: list[Path]
    archived: list[Path]
    log_entry: dict[str, Any]


def filename_stamp(workspace: Workspace, moment: datetime) -> str:
    """The workspace's style for timestamps in file names: ``2026_11_24_14_00_10`` unless it uses ISO."""
    names = [p.name for d in (workspace.devops_inbox, workspace.processed, workspace.quality_inbox) if d.is_dir() for p in d.iterdir()]
    iso_style = any(re.search(r"\d{8}T\d{6}Z?", n) for n in names) and not any(_UNDERSCORE_TS.search(n) for n in names)
    return moment.strftime("%Y%m%dT%H%M%SZ" if iso_style else "%Y_%m_%d_%H_%M_%S")


class Writer:
    def __init__(self, inputs: Inputs, moment: datetime, fault: FaultHook = _no_fault) -> None:
        self.inputs = inputs
        self.ws = inputs.workspace
        self.moment = moment
        self.fault = fault

    def commit(self, decision: Decision) -> Committed:
        """Write the decision; the caller holds ``locked(workspace)``."""
        try:
            return self._commit(decision)
        except OSError as err:
            raise CommitError(Path(err.filename or self.ws.consensus), f"cannot write: {err.strerror}") from None

    def _commit(self, decision: Decision) -> Committed:
        self._sweep()
        if isinstance(decision, Approve):
            files = {
                self.ws.artifacts / "deployment.json": json.dumps(decision.deployment, indent=2, ensure_ascii=False) + "\n",
                self.ws.artifacts / "cicd.yaml": decision.cicd if decision.cicd.endswith("\n") else decision.cicd + "\n",
                self.ws.artifacts / "runbook.md": decision.runbook if decision.runbook.endswith("\n") else decision.runbook + "\n",
            }
            staged = [(self._stage(path, text), path) for path, text in files.items()]
            self.fault("staged")
            for tmp, path in staged:
                os.replace(tmp, path)
                self.fault(f"replaced:{path.name}")
            written = [path for _, path in staged]
        else:
            text = dump_yaml(veto_message(decision, self.inputs, self.moment))
            path = self._new_veto_path()
            tmp = self._stage(path, text)
            self.fault("staged")
            written = [self._link_new(tmp, path)]
        _fsync_dir(self.ws.artifacts if isinstance(decision, Approve) else self.ws.quality_inbox)
        self.fault("before_log")
        entry = self.log_entry(decision, written)
        self._append_log(entry)
        self.fault("logged")
        archived = self._archive()
        return Committed(written, archived, entry)

    def log_entry(self, decision: Decision, written: list[Path]) -> dict[str, Any]:
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
        details["artifacts"] = [self.ws.relative(p) for p in written]
        if decision.reason:
            details["reason"] = decision.reason
        return {
            "timestamp": iso(self.moment),
            "agent": "devops",
            "decision": decision.kind,
            "epic_id": self.inputs.epic_id,
            "iteration": self.inputs.iteration,
            "source_document": SOURCE_DOCUMENT,
            "previous_artifacts": [*UPSTREAM, *(f"messages/inbox/devops/{m.file}" for m in self.inputs.messages)],
            "details": details,
        }

    def _stage(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{TMP_PREFIX}{os.getpid()}-{path.name}"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def _new_veto_path(self) -> Path:
        return self.ws.quality_inbox / f"veto_{filename_stamp(self.ws, self.moment)}.yaml"

    def _link_new(self, tmp: Path, path: Path) -> Path:
        """Put ``tmp`` in place under a name no other file has (``veto_<ts>_2.yaml`` on a clash)."""
        candidate, n = path, 1
        while True:
            try:
                os.link(tmp, candidate)
                tmp.unlink()
                return candidate
            except FileExistsError:
                n += 1
                candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")

    def _append_log(self, entry: dict[str, Any]) -> None:
        log = self.ws.decision_log
        log.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        fd = os.open(log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            prefix = b"" if _ends_with_newline(fd) else b"\n"
            data = prefix + line.encode("utf-8") + b"\n"
            if os.write(fd, data) != len(data):
                raise CommitError(log, "short write to the decision log")
            os.fsync(fd)
        finally:
            os.close(fd)

    def _archive(self) -> list[Path]:
        moved: list[Path] = []
        if not self.inputs.messages:
            return moved
        self.ws.processed.mkdir(parents=True, exist_ok=True)
        for message in self.inputs.messages:
            source = self.ws.devops_inbox / message.file
            target = self.ws.processed / message.file
            if target.exists():
                target = target.with_name(f"{target.stem}.{filename_stamp(self.ws, self.moment)}{target.suffix}")
            with contextlib.suppress(FileNotFoundError):
                os.replace(source, target)
                moved.append(target)
        return moved

    def _sweep(self) -> None:
        for folder in (self.ws.artifacts, self.ws.quality_inbox):
            if folder.is_dir():
                for stale in folder.glob(f"{TMP_PREFIX}*"):
                    stale.unlink(missing_ok=True)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
