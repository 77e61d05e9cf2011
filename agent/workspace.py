"""Find the consensus folder and tell its layout: the paths of everything the stage reads and writes (``agent.inputs`` reads them)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Literal, NamedTuple

from agent.errors import InputError, UnsafePathError, WorkspaceNotFoundError
from agent.lock import locked as locked  # re-exported: the lock is part of the workspace's API

Layout = Literal["classic", "per_epic"]
EPIC_DIR = re.compile(r"^epic_(\d+)$")


class Workspace(NamedTuple):
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
                layout: Layout = "per_epic" if EPIC_DIR.fullmatch(folder.parent.name) else "classic"
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


def real_folder(workspace: Workspace, folder: Path) -> bool:
    """Whether ``folder`` exists; a link or a non-folder anywhere below the consensus folder is exit 2.

    With no link on the way, what we read cannot resolve outside the consensus folder.
    """
    current = workspace.consensus
    for part in folder.relative_to(workspace.consensus).parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return False
        except OSError as err:
            raise InputError(current, f"cannot inspect: {err.strerror or err}") from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(current, "is a symbolic link; the agent reads only real folders inside the consensus folder")
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(current, "is not a folder")
    return True
