"""The vetted table of GitHub Actions commit SHAs shipped with the project (action_pins.json), for the renderer and the validator."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

TABLE = Path(__file__).resolve().parent / "action_pins.json"
SHA = re.compile(r"[0-9a-f]{40}")
VERSION = re.compile(r"v[0-9]+(?:\.[0-9]+)*")
"""A release tag as the table may give it: written after ``#`` at the end of a ``uses:`` line, it is a YAML comment."""


class Pin(NamedTuple):
    action: str
    version: str
    sha: str

    @property
    def uses(self) -> str:
        return f"{self.action}@{self.sha}"


@cache
def table() -> dict[str, tuple[Pin, ...]]:
    """Each action's pins, newest release first, as the table lists them."""
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return {
        action: tuple(
            Pin(action, str(row["version"]), str(row["sha"]))
            for row in rows
            if SHA.fullmatch(str(row["sha"])) and VERSION.fullmatch(str(row["version"]))
        )
        for action, rows in data["actions"].items()
    }


def latest(action: str) -> Pin:
    """The newest vetted release of ``action``; KeyError when the table does not know the action."""
    return table()[action][0]


def known(action: str, sha: str) -> Pin | None:
    """The pin for ``action@sha`` when the table vouches for that commit (action names compare case-insensitively)."""
    rows = next((rows for name, rows in table().items() if name.lower() == action.lower()), ())
    return next((p for p in rows if p.sha == sha), None)
