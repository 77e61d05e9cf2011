"""Shared fixtures: fresh copies of the bundled workspace, in either layout."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
RECORDINGS = ROOT / "fixtures" / "recordings"


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: no key unless a test sets one with a local transport."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("DEVOPS_AGENT_MODEL", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A classic-layout project root holding consensus/."""
    target = tmp_path / "project"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def per_epic(tmp_path: Path) -> Path:
    """The same epic in the per-epic layout: docs/specs/epic_01/consensus/, log beside artifacts/."""
    epic = tmp_path / "repo" / "docs" / "specs" / "epic_01"
    shutil.copytree(EXAMPLE / "consensus", epic / "consensus")
    current = epic / "consensus" / "current"
    (current / "decision_log.jsonl").rename(epic / "consensus" / "decision_log.jsonl")
    shutil.rmtree(current)
    (epic / "epic_01.md").write_text("# Epic 01: Add health check endpoint\n")
    return epic


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (except the lock file) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".devops-agent.lock"
    }


REQUIRE_TOOLS = bool(os.environ.get("DEVOPS_AGENT_REQUIRE_TOOLS"))
"""Set by .ci/run, which installs every linter: a test whose tool is missing then fails instead of skipping."""


def missing_tools(*names: str) -> list[str]:
    """Which of these linters (binaries, or the Python packages kubernetes-validate and promql-parser) are absent here."""
    from agent.validation.tools import find

    modules = {"kubernetes-validate": "kubernetes_validate", "promql-parser": "promql_parser"}
    return [n for n in names if (importlib.util.find_spec(modules[n]) is None if n in modules else find(n) is None)]


def needs(*names: str) -> pytest.MarkDecorator:
    """Skip where a tool is absent, except under DEVOPS_AGENT_REQUIRE_TOOLS, where the test runs (and fails)."""
    absent = missing_tools(*names)
    return pytest.mark.skipif(bool(absent) and not REQUIRE_TOOLS, reason=f"not installed here: {', '.join(absent)} (CI installs them)")


def require(tool: str) -> str:
    """The tool's path; a missing one fails under DEVOPS_AGENT_REQUIRE_TOOLS and skips elsewhere."""
    from agent.validation.tools import find

    path = find(tool)
    if path is None:
        message = f"{tool} is not installed (see README: dependency notes)"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return path
