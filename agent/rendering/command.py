"""``render``: rewrite the files derived from artifacts/deployment.json (manifests, alert rules) after a hand edit."""

from __future__ import annotations

import os
from pathlib import Path

from agent import journal
from agent.documents import load_json_file
from agent.errors import InputError
from agent.facts import Facts
from agent.files import atomic_write, encode, ensure_dir, holds, refuse_links
from agent.inputs import load
from agent.rendering import manifests
from agent.workspace import Workspace, locked


def render_workspace(workspace: Workspace, lock_timeout: float) -> list[Path]:
    """Render under the workspace lock; return the files written or removed (files already up to date are left alone).

    Refuses (InputError, exit 2) a deployment.json that is invalid or a workspace whose service cannot be named.
    """
    with locked(workspace, lock_timeout):
        journal.recover(workspace)  # a killed run's committed decision is completed before anything is rendered
        path = workspace.artifacts / "deployment.json"
        if not os.path.lexists(path):  # anything else there (a link, a folder) is named by the read below
            raise InputError(path, "no deployment plan to render from; run `devops-agent run` first")
        deployment = load_json_file(path)
        facts = _facts(workspace, deployment, path)
        files = manifests.render(deployment, facts)
        targets = {workspace.artifacts / name: encode(text) for name, text in files.items()}
        stale = [workspace.artifacts / name for name in manifests.stale(workspace.artifacts, files)]
        for target in [*targets, *stale]:  # all of them before anything changes: a link or a folder in the way is exit 2
            refuse_links(workspace.consensus, target, file=True)
        for folder in sorted({target.parent for target in targets}):
            ensure_dir(workspace.consensus, folder)
        changed = [atomic_write(target, data) for target, data in targets.items() if not holds(target, data)]
        for target in stale:
            target.unlink(missing_ok=True)
        return changed + stale


def _facts(workspace: Workspace, deployment: object, path: Path) -> Facts:
    # The service's name and the workspace layout come from the same facts a run uses.
    from agent.models.offline.planner import facts_for_plan
    from agent.validation import check_deployment, errors

    inputs = load(workspace)
    blocking = errors(check_deployment(deployment, inputs.implementation.declared_endpoints()))
    if blocking:
        shown = "; ".join(str(v) for v in blocking[:3])
        raise InputError(path, f"{len(blocking)} violation(s), fix them first (`devops-agent validate` lists all): {shown}")
    assert isinstance(deployment, dict)  # check_deployment refuses anything else
    return facts_for_plan(inputs, deployment)
