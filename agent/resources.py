"""Locate the bundled ``schemas/`` and ``prompts/`` folders, in a checkout or an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def folder(name: str) -> Path:
    # A wheel ships them inside the package as _schemas/ and _prompts/ (see
    # pyproject's package-dir); a checkout keeps them at the top level.
    for candidate in (_HERE / f"_{name}", _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"devops-agent is missing its {name}/ folder (broken install?)")


def read(name: str, file: str) -> str:
    return (folder(name) / file).read_text(encoding="utf-8")
