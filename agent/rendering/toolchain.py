"""The language-specific steps of the workflow: set up the toolchain, run the plan's CI gates, run integration tests.

A gate is run only when we know its tool; its upstream text never reaches the shell. Paths from implementation.json are
refused unless they are plain relative paths, and quoted all the same.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from agent.facts import is_safe_path
from agent.rendering.pins import latest

if TYPE_CHECKING:
    from agent.facts import Facts

_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,2}|stable|lts/\*")  # ASCII digits: \d matches any script's
_PYTHON_TOOLS = {
    "black": "python -m black --check {src}",
    "ruff": "python -m ruff check {src}",
    "flake8": "python -m flake8 {src}",
    "pylint": "python -m pylint {src}",
    "mypy --strict": "python -m mypy --strict {src}",
    "mypy": "python -m mypy {src}",
    "pyright": "pyright {src}",
    "bandit": "python -m bandit -r {src}",
    "pip-audit": "pip-audit",
}
_GO_TOOLS = {"gofmt": 'test -z "$(gofmt -l .)" || { gofmt -l .; echo "::error::files not formatted with gofmt"; exit 1; }', "go vet": ""}
_NODE_TOOLS = {
    "eslint": "npm run lint",
    "prettier": "npm run lint",
    "tsc": "npx --no-install tsc --noEmit",
    "npm audit": "npm audit --audit-level=high",
}
_PIP_NAMES = {"mypy --strict": "mypy"}


def relative_path(text: str) -> str:
    if not is_safe_path(text):
        raise ValueError(f"{text!r} is not a plain relative path; refusing to put it in a workflow")
    return text


def setup(facts: Facts) -> list[dict[str, Any]]:
    """The steps that install the service's toolchain and dependencies."""
    if facts.language == "python":
        tools = ["pytest", "pytest-cov", *sorted({_PIP_NAMES.get(t, t) for t in _python_gates(facts) if t != "pip-audit"})]
        install = (
            "python -m pip install --upgrade pip\n"
            "if [ -f pyproject.toml ]; then python -m pip install -e '.[dev]' || python -m pip install -e .; fi\n"
            "if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi\n"
            f"python -m pip install {' '.join(tools)}\n"
        )
        setup = {"uses": latest("actions/setup-python").uses, "with": {"python-version": _version(facts)}}
        return [setup, {"name": "Install", "run": install}]
    if facts.language == "go":
        source = {"go-version-file": relative_path(facts.version_file)} if facts.version_file else {"go-version": _version(facts)}
        return [{"uses": latest("actions/setup-go").uses, "with": {**source, "cache": False}}]
    if facts.language == "node":
        return [
            {"uses": latest("actions/setup-node").uses, "with": {"node-version": _version(facts)}},
            {"name": "Install", "run": "npm ci\n"},
        ]
    return []


def gates(facts: Facts) -> dict[str, Any]:
    """The step body (`run`, maybe `working-directory`) that runs the tests and the plan's CI gates."""
    if facts.language == "python":
        return {"run": "\n".join(_python_commands(facts)) + "\n"}
    if facts.language == "go":
        return _in_module(facts, _go_commands(facts))
    if facts.language == "node":
        tools = [t for t in (*facts.ci_gates.lint, facts.ci_gates.type_check, *facts.ci_gates.security) if t in _NODE_TOOLS]
        return {"run": "\n".join(dict.fromkeys(["npm test", *(_NODE_TOOLS[t] for t in tools)])) + "\n"}
    return {"run": "make test\n"}


def integration(facts: Facts) -> dict[str, Any]:
    """The step body that runs the integration tests against ``$BASE_URL``."""
    if facts.language == "python":
        # pytest exits 5 when no test is marked integration: say so, do not fail a repository that has none yet.
        return {
            "run": 'status=0; python -m pytest -m integration || status=$?\n'
            'if [ "$status" -eq 5 ]; then echo "::warning::no tests marked integration ran"; '
            'elif [ "$status" -ne 0 ]; then exit "$status"; fi\n'
        }
    if facts.language == "go":
        return _in_module(facts, ["go test -tags integration ./..."])
    if facts.language == "node":
        return {
            "run": 'if npm run | grep -q "test:integration"; then npm run test:integration; '
            'else echo "::warning::no test:integration script in package.json"; fi\n'
        }
    return {"run": "make integration-test\n"}


def _python_gates(facts: Facts) -> list[str]:
    gate = facts.ci_gates
    return [t for t in (*gate.lint, gate.type_check, *gate.security) if t in _PYTHON_TOOLS]


def _python_commands(facts: Facts) -> list[str]:
    src = shlex.quote(relative_path(facts.source_dir))
    coverage = f" --cov-fail-under={facts.ci_gates.coverage}" if facts.ci_gates.coverage is not None else ""
    return [f"python -m pytest --cov={src} --cov-report=xml{coverage}", *(_PYTHON_TOOLS[t].format(src=src) for t in _python_gates(facts))]


def _go_commands(facts: Facts) -> list[str]:
    commands = ["go vet ./..."]
    commands += [_GO_TOOLS[t] for t in facts.ci_gates.lint if _GO_TOOLS.get(t)]
    commands.append("go test -race -coverprofile=coverage.out ./...")
    if facts.ci_gates.coverage is not None:
        commands.append(
            f"go tool cover -func=coverage.out | awk -v min={facts.ci_gates.coverage} "
            "'/^total:/ { sub(\"%\", \"\", $3); if ($3 + 0 < min) { print \"coverage \" $3 \"% is below \" min \"%\"; exit 1 } }'"
        )
    return commands


def _in_module(facts: Facts, commands: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    folder = str(PurePosixPath(relative_path(facts.version_file)).parent) if facts.version_file else "."
    if folder != ".":
        body["working-directory"] = folder
    body["run"] = "\n".join(commands) + "\n"
    return body


def _version(facts: Facts) -> str:
    version = facts.language_version or ""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not a toolchain version; refusing to put it in a workflow")
    return version


def unmapped_gates(facts: Facts) -> list[str]:
    """The plan's gates this workflow does not run for the service's language (said in the assumptions)."""
    gate = facts.ci_gates
    table = {"python": _PYTHON_TOOLS, "go": _GO_TOOLS, "node": _NODE_TOOLS}.get(facts.language, {})
    missing = [t for t in (*gate.lint, gate.type_check, *gate.security) if t and t not in table]
    if gate.coverage is not None and facts.language in {"node", "unknown"}:
        missing.append(f"coverage {gate.coverage}%")
    return missing + list(gate.unknown)
