"""Read everything one run decides on: the upstream artifacts through their typed models, the epic's state, the inbox.

This is the upstream boundary: every file is read without following a link, parsed strictly and typed leniently here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from agent.decision_log import Unclear, entries_from_end, find_devops
from agent.documents import load_json_file, load_yaml_file, parse_json, parse_yaml, read_text
from agent.errors import InputError, printable
from agent.names import is_epic_id
from agent.upstream import EpicState, Implementation, Message, Plan, Review, read_iteration, shown
from agent.views import Lenient, ValidationError
from agent.workspace import EPIC_DIR, Workspace, real_folder

M = TypeVar("M", bound=Lenient)
MAX_MESSAGE_BYTES = 1_048_576
_QUIETLY_IGNORED = frozenset({".gitkeep", ".keep"})


class Inputs(NamedTuple):
    """Everything one run reads, parsed and typed."""

    workspace: Workspace
    review: Review
    implementation: Implementation
    plan: Plan
    raw: dict[str, Any]
    messages: list[Message]
    epic_id: str
    iteration: int
    title: str | None
    warnings: list[str]
    unread: list[str]
    """Inbox entries named as messages that could not be read (each with why): any of them could be a veto."""

    def devops_decision(self) -> dict[str, Any] | None:
        """The newest devops decision logged for this epic and iteration, if any (not yet checked against the files)."""
        return find_devops(self.workspace.decision_log, self.epic_id, self.iteration)


REQUIRED = ("review.json", "implementation.json", "plan.json")


def load(workspace: Workspace) -> Inputs:
    warnings: list[str] = []
    for folder in (workspace.artifacts, workspace.decision_log.parent, workspace.devops_inbox):
        real_folder(workspace, folder)
    raw = {name: load_json_file(workspace.artifacts / name) for name in REQUIRED}
    review = _typed(Review, raw["review.json"], workspace.artifacts / "review.json")
    implementation = _typed(Implementation, raw["implementation.json"], workspace.artifacts / "implementation.json")
    plan = _typed(Plan, raw["plan.json"], workspace.artifacts / "plan.json")
    epic = _read_epic(workspace, warnings)
    epic_id = _epic_id(workspace, review, epic)
    for name, other in (("implementation.json", implementation.epic_id), ("plan.json", plan.epic_id)):
        if other is not None and other != epic_id:
            warnings.append(f"{workspace.artifacts / name}: epic_id {shown(other)} differs from review.json's {shown(epic_id)}")
    iteration = _iteration(workspace, review, epic, epic_id, warnings)
    unread: list[str] = []
    messages = read_inbox(workspace.devops_inbox, warnings, unread)
    return Inputs(
        workspace=workspace,
        review=review,
        implementation=implementation,
        plan=plan,
        raw=raw,
        messages=messages,
        epic_id=epic_id,
        iteration=iteration,
        title=epic[0].title if epic else None,
        warnings=[printable(w) for w in warnings],
        unread=unread,
    )


def _typed(model: type[M], data: Any, path: Path) -> M:
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object at the top level, found {type(data).__name__}")
    try:
        return model.read(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])  # keys are upstream text
        raise InputError(path, printable(first["msg"]), field=printable(where)) from None


def read_inbox(inbox: Path, warnings: list[str], unread: list[str]) -> list[Message]:
    """Parse each message; a bad one or a link is named in ``unread`` (the gates then stop the run: it could be a
    veto), a name we do not read in ``warnings``; either is left where it is, and skipped."""
    try:
        with os.scandir(inbox) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise InputError(inbox, f"cannot list the inbox: {err.strerror or err}") from None
    messages = [_inbox_entry(entry, warnings, unread) for entry in entries]
    return [m for m in messages if m is not None]


def _inbox_entry(entry: os.DirEntry[str], warnings: list[str], unread: list[str]) -> Message | None:
    where = printable(entry.path)
    if entry.is_symlink():
        unread.append(f"{where}: is a symbolic link; not read (the agent never reads through links) and left in the inbox")
        return None
    if not _is_message(entry.name):
        if entry.name not in _QUIETLY_IGNORED:
            warnings.append(f"{where}: not a message name (*.yaml, *.yml or msg_*.json); ignored and left in the inbox")
        return None
    if not _is_utf8(entry.name):
        warnings.append(f"{where}: the file name is not UTF-8 (shown escaped); read and archived under the same bytes")
    try:
        return read_message(Path(entry.path))
    except InputError as err:
        unread.append(printable(f"{err} (message skipped and left in the inbox)"))
        return None


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_message(name: str) -> bool:
    name = name.lower()  # VETO_1.YAML is a message too
    return name.endswith((".yaml", ".yml")) or (name.startswith("msg_") and name.endswith(".json"))


def read_message(path: Path) -> Message:
    text = read_text(path, max_bytes=MAX_MESSAGE_BYTES)
    data = parse_json(text, path) if path.suffix.lower() == ".json" else parse_yaml(text, path)
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping at the top level")
    try:
        return Message.from_document(path.name, data)
    except ValidationError as err:
        raise InputError(path, printable(err.errors()[0]["msg"])) from None
    except (TypeError, ValueError) as err:  # e.g. a YAML key that is not a string
        raise InputError(path, printable(f"not a message: {err}")) from None


EpicFile = tuple[EpicState, Path]


def _read_epic(workspace: Workspace, warnings: list[str]) -> EpicFile | None:
    """The classic layout's epic/state file, the first that can be read; the others are named in ``warnings``."""
    if workspace.layout != "classic":
        return None
    current = workspace.consensus / "current"
    for name in ("epic.yaml", "epic.json", "state.yaml", "state.json"):
        path = current / name
        if not os.path.lexists(path):
            continue
        try:
            data = load_json_file(path) if name.endswith(".json") else load_yaml_file(path)
            if isinstance(data, dict):
                return EpicState.read(data), path
            warnings.append(f"{path}: ignored (expected a mapping at the top level)")
        except (InputError, ValidationError) as err:
            warnings.append(f"{path}: ignored ({err})")
    return None


def _epic_id(workspace: Workspace, review: Review, epic: EpicFile | None) -> str:
    """review.json's epic_id, else the epic file's, else the ``epic_NN`` folder's; each must be a plain identifier."""
    review_path = workspace.artifacts / "review.json"
    if review.epic_id is not None:
        _check_epic_id(review.epic_id, review_path)
    if epic and epic[0].epic_id is not None:
        _check_epic_id(epic[0].epic_id, epic[1])
        if review.epic_id is not None and epic[0].epic_id != review.epic_id:
            raise InputError(
                epic[1],
                f"epic_id {shown(epic[0].epic_id)} differs from {review_path} epic_id {shown(review.epic_id)} (must be the same epic)",
                field="epic_id",
            )
    folder = _epic_from_folder(workspace)
    if folder and review.epic_id is not None and _number(review.epic_id) != _number(folder):
        raise InputError(
            review_path,
            f"epic_id {shown(review.epic_id)} is not the epic of its folder {workspace.consensus.parent.name}: it does not end "
            f"in {_number(folder)} (quality's review of another epic approves nothing here)",
            field="epic_id",
        )
    epic_id = review.epic_id or (epic[0].epic_id if epic else None) or folder
    if not epic_id:
        raise InputError(review_path, "no epic_id, and none in the epic file or the epic_NN folder name", field="epic_id")
    return epic_id


def _check_epic_id(value: str, path: Path) -> None:
    if not is_epic_id(value):
        raise InputError(
            path,
            f"{shown(value)} is not an epic id (a letter or digit, then up to 63 letters, digits, '.', '_' or '-')",
            field="epic_id",
        )


def _number(epic_id: str) -> int | None:
    """The number an epic id ends in (``EP-007`` → 7), which an ``epic_NN`` folder names too; None when it has none."""
    digits = re.findall(r"[0-9]+", epic_id)
    return int(digits[-1]) if digits else None


def _epic_from_folder(workspace: Workspace) -> str | None:
    match = EPIC_DIR.fullmatch(workspace.consensus.parent.name)
    return f"EP-{int(match.group(1)):03d}" if match else None


class _Said(NamedTuple):
    """One source's iteration: ``value`` when it gives a good one, ``problems`` for each bad one it gave."""

    where: str
    value: int | None
    problems: list[str]


def _said(where: str, raw: Any) -> _Said:
    try:
        return _Said(where, read_iteration(raw), [])
    except ValueError as err:
        return _Said(where, None, [f"{where}: {err}"])


def _from_log(path: Path, epic_id: str, where: str) -> _Said:
    """The newest good iteration the log gives this epic (read from the end); bad ones logged after it are problems. A
    line about the epic that readers could read differently (torn, a key twice or spelled another way) is exit 2: it
    could hold a newer iteration."""
    problems: list[str] = []
    try:
        for entry in entries_from_end(path, epic_id):
            if entry.get("iteration") is None:
                continue
            said = _said(where, entry["iteration"])
            if said.value is not None:
                return _Said(where, said.value, problems)
            problems += said.problems
    except Unclear as unclear:
        reason = f"cannot tell {epic_id}'s newest iteration: a line about it reads differently to different readers ({unclear})"
        raise InputError(path, reason + "; mend or remove it") from None
    return _Said(where, None, problems)


def _iteration(workspace: Workspace, review: Review, epic: EpicFile | None, epic_id: str, warnings: list[str]) -> int:
    """review.json's iteration reconciled with the epic file (classic) or the log: a newer review wins, said in a warning;
    an older review is exit 2 (quality has not reviewed the current iteration); a bad value is a warning when another
    source gives a good one, else exit 2."""
    review_path = workspace.artifacts / "review.json"
    ours = _said(f"{workspace.relative(review_path)} iteration", review.iteration)
    if epic and epic[0].raw_iteration is not None:
        theirs = _said(f"{workspace.relative(epic[1])} iteration", epic[0].raw_iteration)
    else:
        theirs = _from_log(workspace.decision_log, epic_id, f"{workspace.relative(workspace.decision_log)} iteration")
    if ours.value is None and theirs.value is None:
        listed = "; ".join(ours.problems + theirs.problems) or "no epic/state file, decision log entry or review iteration"
        raise InputError(review_path, f"cannot tell the current iteration ({listed})", field="iteration")
    chosen = ours.value or theirs.value or 0  # read_iteration never gives 0: one of them is set
    if ours.value and theirs.value and ours.value != theirs.value:
        if ours.value < theirs.value:
            raise InputError(
                review_path,
                f"is for iteration {ours.value} but {theirs.where} is {theirs.value}: quality has not reviewed "
                f"iteration {theirs.value} yet (run again once review.json is for it)",
                field="iteration",
            )
        warnings.append(f"{ours.where} is {ours.value}, {theirs.where} is {theirs.value}: deciding for {ours.value}, the newer review")
    warnings += [f"{problem}; using iteration {chosen}" for problem in ours.problems + theirs.problems]
    return chosen
