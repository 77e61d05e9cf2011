"""`render`: re-render the derived files from a hand-edited deployment.json, under the workspace lock, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.errors import InputError, WorkspaceBusyError
from agent.rendering import manifests
from agent.rendering.command import render_workspace
from agent.validation import k8s
from agent.workspace import Workspace, locked
from tests.services import SERVICES, make, plan_for


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A workspace whose deployment.json the offline planner wrote (a canary), and no derived file yet."""
    ws = make(tmp_path / "project", SERVICES["python-canary"])
    body, _ = plan_for(ws)
    save(ws, {"epic_id": "EP-001", "iteration": 1, "timestamp": "2026-11-27T12:00:00Z", **body})
    return ws


def save(ws: Workspace, deployment: dict[str, Any]) -> None:
    (ws.artifacts / "deployment.json").write_text(json.dumps(deployment, indent=2))


def plan(ws: Workspace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ws.artifacts / "deployment.json").read_text())
    return data


def relative(ws: Workspace, paths: list[Path]) -> list[str]:
    return sorted(p.relative_to(ws.artifacts).as_posix() for p in paths)


def test_render_writes_every_derived_file_then_nothing_when_up_to_date(workspace: Workspace) -> None:
    _, facts = plan_for(workspace)
    expected = manifests.render(plan(workspace), facts)
    assert relative(workspace, render_workspace(workspace, 1)) == sorted(expected)
    for path, text in expected.items():
        assert (workspace.artifacts / path).read_text() == text
    assert render_workspace(workspace, 1) == []
    assert manifests.check_matches(workspace.artifacts, plan(workspace), facts) == []
    assert not list(workspace.artifacts.rglob(".devops-agent-tmp-*"))


def test_a_hand_edit_rewrites_only_what_it_changes(workspace: Workspace) -> None:
    render_workspace(workspace, 1)
    deployment = plan(workspace)
    deployment["infrastructure"]["scaling"]["max_replicas"] = 20
    save(workspace, deployment)
    assert relative(workspace, render_workspace(workspace, 1)) == [f"k8s/{env}/hpa.yaml" for env in ("dev", "production", "staging")]
    assert "maxReplicas: 20" in (workspace.artifacts / "k8s/production/hpa.yaml").read_text()


def test_switching_strategy_removes_the_old_workload(workspace: Workspace) -> None:
    render_workspace(workspace, 1)
    deployment = plan(workspace)
    deployment["deployment_strategy"]["type"] = "rolling"
    for key in ("canary_percentage", "canary_duration_hours"):
        deployment["deployment_strategy"]["stages"][2].pop(key)
    save(workspace, deployment)
    changed = relative(workspace, render_workspace(workspace, 1))
    assert {"k8s/production/deployment.yaml", "k8s/production/rollout.yaml", "k8s/production/analysistemplate.yaml"} <= set(changed)
    folder = workspace.artifacts / "k8s" / "production"
    assert (folder / "deployment.yaml").is_file()
    assert not (folder / "rollout.yaml").exists() and not (folder / "analysistemplate.yaml").exists()
    _, facts = plan_for(workspace)
    assert [v for v in k8s.check_derived(workspace.artifacts, plan(workspace), facts) if v.rule == "manifests.up_to_date"] == []


def test_a_file_of_our_own_beside_the_manifests_is_left_alone(workspace: Workspace) -> None:
    render_workspace(workspace, 1)
    mine = workspace.artifacts / "k8s" / "production" / "NOTES.md"
    mine.write_text("ours")
    render_workspace(workspace, 1)
    assert mine.read_text() == "ours"


def test_an_invalid_plan_is_refused_and_nothing_is_written(workspace: Workspace) -> None:
    deployment = plan(workspace)
    deployment["infrastructure"]["resources_required"]["replicas"] = 1
    save(workspace, deployment)
    with pytest.raises(InputError, match=r"deployment\.replicas"):
        render_workspace(workspace, 1)
    assert not (workspace.artifacts / "k8s").exists()


def test_no_plan_means_nothing_to_render(workspace: Workspace) -> None:
    (workspace.artifacts / "deployment.json").unlink()
    with pytest.raises(InputError, match="run `devops-agent run` first"):
        render_workspace(workspace, 1)


def test_render_waits_for_the_lock_and_gives_up_after_its_timeout(workspace: Workspace) -> None:
    with locked(workspace, 1), pytest.raises(WorkspaceBusyError):
        render_workspace(workspace, 0.2)
    assert not (workspace.artifacts / "k8s").exists()
