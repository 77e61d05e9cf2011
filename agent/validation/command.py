"""``validate``: check the devops outputs already in a workspace, every violation at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.documents import load_json_file, parse_yaml, read_text
from agent.errors import InputError
from agent.upstream import Implementation
from agent.validation import Bundle, Violation, check_bundle, check_decision, check_veto
from agent.workspace import Workspace, read_decision_log


@dataclass
class Inspection:
    checked: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def inspect(workspace: Workspace) -> Inspection:
    result = Inspection()
    names = ("deployment.json", "cicd.yaml", "runbook.md")
    present = [workspace.artifacts / n for n in names if (workspace.artifacts / n).is_file()]
    vetoes = sorted(workspace.quality_inbox.glob("veto_*.yaml")) if workspace.quality_inbox.is_dir() else []
    log = [e for e in read_decision_log(workspace.decision_log, result.warnings) if e.get("agent") == "devops"]
    if not present and not vetoes and not log:
        raise InputError(
            workspace.consensus,
            "no devops output to validate (deployment.json, cicd.yaml, "
            "runbook.md, a veto or a devops log line); run `devops-agent run` first",
        )
    if present:
        result.violations += check_bundle(_bundle(workspace, names), _declared(workspace, result))
        result.checked += [workspace.relative(p) for p in present]
    for path in vetoes:
        result.violations += check_veto(parse_yaml(read_text(path), path), workspace.relative(path))
        result.checked.append(workspace.relative(path))
    for n, entry in enumerate(log, start=1):
        result.violations += check_decision(entry, f"{workspace.relative(workspace.decision_log)} devops line {n}")
    if log:
        result.checked.append(workspace.relative(workspace.decision_log))
    return result


def _bundle(workspace: Workspace, names: tuple[str, ...]) -> Bundle:
    values: list[Any] = []
    for name in names:
        path = workspace.artifacts / name
        if not path.is_file():
            values.append(None)
        elif name.endswith(".json"):
            values.append(load_json_file(path))
        else:
            values.append(read_text(path))
    return Bundle(*values)


def _declared(workspace: Workspace, result: Inspection) -> list[str]:
    path = workspace.artifacts / "implementation.json"
    if not path.is_file():
        result.warnings.append(f"{path}: missing; probe endpoints not cross-checked")
        return []
    data = load_json_file(path)
    return Implementation.model_validate(data).declared_endpoints() if isinstance(data, dict) else []
