"""``validate``: check the devops outputs already in a workspace, every violation at once."""

from __future__ import annotations

from typing import Any

from agent import decision_log
from agent.documents import load_json_file, parse_yaml, read_text
from agent.errors import DevopsAgentError, InputError
from agent.facts import Names, read_names
from agent.validation import FILES_MATCH, Bundle, Violation, check_bundle, check_decision, check_veto, errors, k8s
from agent.workspace import Workspace, real_folder

NAMES = ("deployment.json", "cicd.yaml", "runbook.md")


class Inspection:
    """What ``validate`` found: the files it checked, their violations, and what it could not check."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.violations: list[Violation] = []
        self.warnings: list[str] = []


def inspect(workspace: Workspace) -> Inspection:
    result = Inspection()
    for folder in (workspace.artifacts, workspace.quality_inbox, workspace.decision_log.parent):
        real_folder(workspace, folder)  # a link on the way is exit 2 naming it, as in a run: nothing is read through one
    present = [workspace.artifacts / n for n in NAMES if (workspace.artifacts / n).is_file()]
    vetoes = sorted(workspace.quality_inbox.glob("veto_*.yaml")) if workspace.quality_inbox.is_dir() else []
    log = _this_epics_lines(workspace)
    if not present and not vetoes and not log:
        raise InputError(
            workspace.consensus,
            "no devops output to validate (deployment.json, cicd.yaml, "
            "runbook.md, a veto or a devops log line); run `devops-agent run` first",
        )
    if present:
        _check_artifacts(workspace, result)
        result.checked += [workspace.relative(p) for p in present]
    for path in vetoes:
        result.violations += check_veto(parse_yaml(read_text(path), path), workspace.relative(path))
        result.checked.append(workspace.relative(path))
    _check_log(workspace, log, result)
    return result


def _check_artifacts(workspace: Workspace, result: Inspection) -> None:
    bundle = read_bundle(workspace)
    names = _names(workspace, bundle.deployment, result)
    found = check_bundle(bundle, names.endpoints if names else [], artifacts_dir=names.artifacts_dir if names else None)
    result.violations += found
    plan_ok = bundle.deployment is not None and not errors([v for v in found if v.artifact == "deployment.json"])
    if names is not None and plan_ok:
        assert bundle.deployment is not None
        result.violations += k8s.check_derived(workspace.artifacts, bundle.deployment, names)
    elif (workspace.artifacts / "k8s").is_dir():
        result.warnings.append("derived files under artifacts/k8s/ not checked: deployment.json has errors or the inputs are unreadable")


def _names(workspace: Workspace, deployment: dict[str, Any] | None, result: Inspection) -> Names | None:
    """What the derived files are rendered with, read from implementation.json; an unreadable one makes it a warning.

    Only implementation.json is read (not the typed upstream models a run builds): `validate` checks outputs.
    """
    path = workspace.artifacts / "implementation.json"
    try:
        implementation = load_json_file(path)
    except DevopsAgentError as err:
        result.warnings.append(f"upstream inputs unreadable, probes and derived files not cross-checked: {err}")
        return None
    epic_id = deployment.get("epic_id") if isinstance(deployment, dict) else None
    return read_names(implementation, epic_id if isinstance(epic_id, str) else "", workspace)


def read_bundle(workspace: Workspace) -> Bundle:
    """The three artifacts as they are on disk (None for a missing one)."""
    values: list[Any] = []
    for name in NAMES:
        path = workspace.artifacts / name
        if not path.is_file():
            values.append(None)
        elif name.endswith(".json"):
            values.append(load_json_file(path))
        else:
            values.append(read_text(path))
    return Bundle(*values)


def _this_epics_lines(workspace: Workspace) -> list[dict[str, Any]]:
    """The devops lines of the epic the newest devops line is about (a shared log holds every epic's history)."""
    newest = decision_log.newest(workspace.decision_log, lambda e: e.get("agent") == "devops", decision_log.DEVOPS)
    if newest is None:
        return []
    return decision_log.devops_entries(workspace.decision_log, str(newest.get("epic_id")))


def _check_log(workspace: Workspace, log: list[dict[str, Any]], result: Inspection) -> None:
    where = workspace.relative(workspace.decision_log)
    for n, entry in enumerate(log, start=1):
        result.violations += check_decision(entry, f"{where} devops line {n} of {entry.get('epic_id')}")
    for problem in decision_log.committed_mismatch(workspace):
        result.violations.append(Violation(where, "$", FILES_MATCH, problem, "warning"))
    if log:
        result.checked.append(where)
