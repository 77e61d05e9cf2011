"""Find the consensus folder, tell its layout, and load everything the devops stage reads."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agent.documents import load_json_file, load_yaml_file, parse_json, parse_yaml, read_text
from agent.errors import InputError, WorkspaceNotFoundError
from agent.upstream import EpicState, Implementation, Message, Plan, Review

Layout = Literal["classic", "per_epic"]
M = TypeVar("M", bound=BaseModel)
MAX_MESSAGE_BYTES = 1_048_576
_EPIC_DIR = re.compile(r"^epic_(\d+)$")


@dataclass(frozen=True)
class Workspace:
    """Paths of one consensus folder; nothing here touches the disk but ``locate``."""

    consensus: Path
    layout: Layout

    @classmethod
    def locate(cls, given: Path) -> Workspace:
        """Accept a project root, ``docs/specs/epic_NN/`` or the consensus folder itself."""
        given = given.expanduser()
        candidates = [given] if given.name == "consensus" else [given / "consensus", given]
        for folder in candidates:
            if (folder / "artifacts").is_dir() or (folder / "messages").is_dir():
                layout: Layout = "per_epic" if _EPIC_DIR.match(folder.parent.name) else "classic"
                return cls(folder.resolve(), layout)
        raise WorkspaceNotFoundError(given, "no consensus folder here (expected consensus/artifacts/); pass --workspace")

    @property
    def artifacts(self) -> Path:
        return self.consensus / "artifacts"

    @property
    def decision_log(self) -> Path:
        base = self.consensus / "current" if self.layout == "classic" else self.consensus
        return base / "decision_log.jsonl"

    @property
    def devops_inbox(self) -> Path:
        return self.consensus / "messages" / "inbox" / "devops"

    @property
    def quality_inbox(self) -> Path:
        return self.consensus / "messages" / "inbox" / "quality"

    @property
    def processed(self) -> Path:
        return self.consensus / "messages" / "processed"

    @property
    def transcripts(self) -> Path:
        return self.consensus / "logs" / "devops"

    @property
    def lock_file(self) -> Path:
        return self.consensus / ".devops-agent.lock"

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.consensus).as_posix()
        except ValueError:
            return str(path)


@contextlib.contextmanager
def locked(workspace: Workspace) -> Iterator[None]:
    """Hold the workspace's exclusive lock (released by the OS if the process dies)."""
    workspace.consensus.mkdir(parents=True, exist_ok=True)
    fd = os.open(workspace.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another run to release {workspace.lock_file}", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass
class Inputs:
    """Everything one run reads, parsed and typed."""

    workspace: Workspace
    review: Review
    implementation: Implementation
    plan: Plan
    raw: dict[str, Any]
    messages: list[Message]
    log: list[dict[str, Any]]
    epic_id: str
    iteration: int
    title: str | None
    warnings: list[str] = field(default_factory=list)

    def devops_decision(self) -> dict[str, Any] | None:
        """The devops decision already logged for this epic and iteration, if any."""
        for entry in reversed(self.log):
            if (
                entry.get("agent") == "devops"
                and str(entry.get("epic_id")) == self.epic_id
                and _int(entry.get("iteration")) == self.iteration
                and entry.get("decision") in {"approve", "veto"}
            ):
                return dict(entry)
        return None


REQUIRED = ("review.json", "implementation.json", "plan.json")


def load(workspace: Workspace) -> Inputs:
    warnings: list[str] = []
    raw = {name: load_json_file(workspace.artifacts / name) for name in REQUIRED}
    review = _typed(Review, raw["review.json"], workspace.artifacts / "review.json")
    implementation = _typed(Implementation, raw["implementation.json"], workspace.artifacts / "implementation.json")
    plan = _typed(Plan, raw["plan.json"], workspace.artifacts / "plan.json")
    log = read_decision_log(workspace.decision_log, warnings)
    epic = _read_epic(workspace, warnings)
    epic_id = review.epic_id or (epic.epic_id if epic else None) or _epic_from_folder(workspace)
    if not epic_id:
        raise InputError(workspace.artifacts / "review.json", "no epic_id, and none in the epic file", field="epic_id")
    iteration = _iteration(epic, log, epic_id, review)
    if iteration is None:
        raise InputError(
            workspace.artifacts / "review.json",
            "cannot tell the current iteration (no epic/state file, decision log entry or numeric review iteration)",
            field="iteration",
        )
    messages = read_inbox(workspace.devops_inbox, warnings)
    return Inputs(
        workspace=workspace,
        review=review,
        implementation=implementation,
        plan=plan,
        raw=raw,
        messages=messages,
        log=log,
        epic_id=epic_id,
        iteration=iteration,
        title=epic.title if epic else None,
        warnings=warnings,
    )


def _typed(model: type[M], data: Any, path: Path) -> M:
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object at the top level, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(path, first["msg"], field=where) from None


def read_decision_log(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            warnings.append(f"{path}:{number}: skipped a malformed log line ({err.msg})")
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def read_inbox(inbox: Path, warnings: list[str]) -> list[Message]:
    """Parse each message; a bad one is named in ``warnings``, left where it is, and skipped."""
    if not inbox.is_dir():
        return []
    messages: list[Message] = []
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or not _is_message(path.name):
            continue
        try:
            messages.append(read_message(path))
        except InputError as err:
            warnings.append(f"{err} (message skipped and left in the inbox)")
    return messages


def _is_message(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or (name.startswith("msg_") and name.endswith(".json"))


def read_message(path: Path) -> Message:
    text = read_text(path, max_bytes=MAX_MESSAGE_BYTES)
    data = parse_json(text, path) if path.suffix == ".json" else parse_yaml(text, path)
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping at the top level")
    try:
        return Message.from_document(path.name, data)
    except ValidationError as err:
        raise InputError(path, err.errors()[0]["msg"]) from None


def _read_epic(workspace: Workspace, warnings: list[str]) -> EpicState | None:
    if workspace.layout != "classic":
        return None
    current = workspace.consensus / "current"
    for name in ("epic.yaml", "epic.json", "state.yaml", "state.json"):
        path = current / name
        if not path.is_file():
            continue
        try:
            data = load_json_file(path) if name.endswith(".json") else load_yaml_file(path)
            return EpicState.model_validate(data if isinstance(data, dict) else {})
        except (InputError, ValidationError) as err:
            warnings.append(f"{path}: ignored ({err})")
    return None


def _epic_from_folder(workspace: Workspace) -> str | None:
    match = _EPIC_DIR.match(workspace.consensus.parent.name)
    return f"EP-{int(match.group(1)):03d}" if match else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _iteration(epic: EpicState | None, log: list[dict[str, Any]], epic_id: str, review: Review) -> int | None:
    if epic and (epic.iteration or epic.current_iteration) is not None:
        return epic.iteration if epic.iteration is not None else epic.current_iteration
    for entry in reversed(log):
        if str(entry.get("epic_id", epic_id)) == epic_id and _int(entry.get("iteration")) is not None:
            return _int(entry.get("iteration"))
    return review.iteration
