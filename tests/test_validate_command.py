"""`validate` on a whole workspace: derived files that drifted, artifacts that no longer match the log, unreadable inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main


def validate_json(capsys: pytest.CaptureFixture[str], project: Path) -> tuple[int, dict[str, Any]]:
    code = main(["validate", "--json", "--workspace", str(project)])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def decided(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    capsys.readouterr()
    return project / "consensus" / "artifacts"


def test_an_offline_run_validates_clean_derived_files_included(decided: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate_json(capsys, project)
    assert (code, out["valid"]) == (0, True), out["violations"]
    assert (decided / "k8s" / "production" / "kustomization.yaml").is_file()
    assert not [v for v in out["violations"] if v["severity"] == "error"]


def test_a_hand_edited_manifest_is_reported_until_render_rewrites_it(
    decided: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = decided / "k8s" / "staging" / "service.yaml"
    service.write_text(service.read_text().replace("port: 80", "port: 81"))
    code, out = validate_json(capsys, project)
    assert code == 1
    assert {(v["artifact"], v["rule"]) for v in out["violations"]} >= {("k8s/staging/service.yaml", "manifests.up_to_date")}
    assert main(["render", "--workspace", str(project)]) == 0
    capsys.readouterr()
    code, out = validate_json(capsys, project)
    assert code == 0 and [v for v in out["violations"] if v["severity"] == "error"] == []


def test_an_artifact_changed_after_the_decision_is_reported(decided: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runbook = decided / "runbook.md"
    runbook.write_text(runbook.read_text() + "\nAn extra line written by hand.\n")
    code, out = validate_json(capsys, project)
    assert code == 0  # reported, not an error: the commit cannot leave a mixed set, so this is a person's edit
    found = [v for v in out["violations"] if v["rule"] == "decision.files_match"]
    assert len(found) == 1 and "artifacts/runbook.md has changed" in found[0]["message"] and found[0]["severity"] == "warning"


def test_unreadable_upstream_inputs_are_a_warning_not_a_silent_pass(
    decided: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (decided / "implementation.json").write_text("{not json")
    code, out = validate_json(capsys, project)
    assert code == 0
    assert any("not cross-checked" in w for w in out["warnings"]) and any("derived files" in w for w in out["warnings"])


def test_external_tools_off_reports_every_skipped_check(
    decided: Path, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVOPS_AGENT_EXTERNAL_TOOLS", "off")
    code, out = validate_json(capsys, project)
    skipped = " ".join(v["message"] for v in out["violations"] if v["rule"] == "tools.missing")
    assert code == 0 and all(v["severity"] == "warning" for v in out["violations"])
    for check in ("actionlint", "zizmor", "shellcheck", "promtool", "Kubernetes schema"):
        assert check in skipped, check
    assert "not installed" not in skipped and "DEVOPS_AGENT_EXTERNAL_TOOLS=off" in skipped


def test_the_log_lines_of_this_epic_are_checked_and_other_epics_history_is_not(
    decided: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = project / "consensus" / "current" / "decision_log.jsonl"
    lines = log.read_text().splitlines()
    bad = {"agent": "devops", "decision": "maybe", "iteration": 1}
    older = [json.dumps({**bad, "epic_id": "EP-000"}), json.dumps({**bad, "epic_id": "EP-001"})]
    log.write_text("\n".join([*older, *lines]) + "\n")
    code, out = validate_json(capsys, project)
    found = [v["artifact"] for v in out["violations"] if v["rule"].startswith("schema.")]
    assert code == 1 and found and all(a.endswith("of EP-001") for a in found)


# `validate` reads the names the derived files are rendered with straight from implementation.json (no typed models);
# the run reads them through the models. Both must name the same service, or validate would report drift after a run.
SERVICE_VARIANTS: dict[str, Any] = {
    "declared": {"service": {"name": "  Billing API  ", "endpoints": ["GET /healthz", {"path": "/ready"}, "/items/{id}"]}},
    "numeric name": {"service": {"name": 42, "endpoints": "/health"}},
    "from a health file": {"service": {"endpoints": []}},
    "top-level endpoints": {"endpoints": ["/live", {"route": "/ready/"}], "service": None},
    "nothing declared, files that do not name it": {
        "service": {},
        "tasks_completed": [{"files_created": "docs/health.md", "files_modified": None}, "not a task", {"files_created": [7]}],
    },
}


@pytest.mark.parametrize("variant", list(SERVICE_VARIANTS))
def test_validate_names_the_service_as_the_run_does(project: Path, variant: str) -> None:
    from agent.facts import read_names
    from agent.inputs import load
    from agent.models.offline.planner import facts_for_plan
    from agent.workspace import Workspace

    path = project / "consensus" / "artifacts" / "implementation.json"
    data = json.loads(path.read_text()) | SERVICE_VARIANTS[variant]
    path.write_text(json.dumps(data))
    workspace = Workspace.locate(project)
    inputs = load(workspace)
    typed = facts_for_plan(inputs, {})
    names = read_names(json.loads(path.read_text()), inputs.epic_id, workspace)
    assert (names.app, names.endpoints, names.artifacts_dir) == (typed.app, inputs.implementation.declared_endpoints(), typed.artifacts_dir)


def test_validate_after_a_run_finds_no_drift_when_the_name_comes_from_the_epic_id(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "consensus" / "artifacts" / "implementation.json"
    data = json.loads(path.read_text())
    data["service"] = {"endpoints": ["/health"]}
    data["tasks_completed"] = [{"files_created": ["lib/util.py"]}]
    path.write_text(json.dumps(data))
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    capsys.readouterr()
    code, out = validate_json(capsys, project)
    assert "ep-001" in (project / "consensus" / "artifacts" / "k8s" / "production" / "service.yaml").read_text()
    assert code == 0 and not [v for v in out["violations"] if v["rule"] == "manifests.up_to_date"], out["violations"]
