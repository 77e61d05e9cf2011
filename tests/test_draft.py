"""Draft mode: the offline planner's artifacts staged as advice, accepted, amended, replaced or overruled.

The edit operations are tested directly; the loop through a scripted stand-in for the model
(``tests.scenarios.Scripted``) driving the real runner, validator and writer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.artifacts import Approve
from agent.inputs import load
from agent.models import ToolCall
from agent.models.offline import planner
from agent.options import RunOptions
from agent.prompting import edits
from agent.runner import Runner
from agent.staging import TOOLS, Stage
from agent.workspace import Workspace
from benchmarks.claude_stage import approval_bytes
from tests.conftest import edit_json
from tests.scenarios import Scripted, _approval, _unstamped, answer, submit, tool

# ---------------------------------------------------------------- the edit operations


PLAN = {"a": {"b": 1, "list": [1, 2]}, "x/y": {"~t": 0}}


@pytest.mark.parametrize(
    "operations,expected",
    [
        ([{"op": "replace", "path": "/a/b", "value": 5}], {"a": {"b": 5, "list": [1, 2]}}),
        ([{"op": "add", "path": "/a/c", "value": [3]}], {"a": {"b": 1, "c": [3], "list": [1, 2]}}),
        ([{"op": "add", "path": "/a/list/-", "value": 3}], {"a": {"b": 1, "list": [1, 2, 3]}}),
        ([{"op": "add", "path": "/a/list/0", "value": 0}], {"a": {"b": 1, "list": [0, 1, 2]}}),
        ([{"op": "remove", "path": "/a/list/1"}, {"op": "remove", "path": "/a/b"}], {"a": {"list": [1]}}),
        ([{"op": "replace", "path": "/x~1y/~0t", "value": 9}], {"x/y": {"~t": 9}}),
    ],
)
def test_json_patch_operations(operations: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    result = edits.patch(PLAN, operations)
    assert all(result[k] == v for k, v in expected.items())
    assert PLAN == {"a": {"b": 1, "list": [1, 2]}, "x/y": {"~t": 0}}  # the original is never touched


@pytest.mark.parametrize(
    "operations,where,message",
    [
        ([{"op": "replace", "path": "/a/missing", "value": 1}], "$.operations[0]", "'missing' does not exist"),
        ([{"op": "add", "path": "/a/b", "value": 1}, {"op": "remove", "path": "/a/list/5"}], "$.operations[1]", "past the end"),
        ([{"op": "replace", "path": "/a/b"}], "$.operations[0]", "needs a value"),
        ([{"op": "add", "path": "/nope/deeper", "value": 1}], "$.operations[0]", "'nope' does not exist"),
        ([{"op": "replace", "path": "/a/list/01", "value": 1}], "$.operations[0]", "not a list index"),
        ([{"op": "add", "path": "/a/b/c", "value": 1}], "$.operations[0]", "is a int"),
    ],
)
def test_json_patch_refuses_what_it_cannot_apply(operations: list[dict[str, Any]], where: str, message: str) -> None:
    with pytest.raises(edits.EditError, match=message) as caught:
        edits.patch(PLAN, operations)
    assert caught.value.where == where


def test_text_replacement_is_exact_unique_and_all_or_nothing() -> None:
    text = "alpha\nbeta\nbeta\ngamma\n"
    assert edits.replace(text, [{"old": "alpha\n", "new": "ALPHA\n"}, {"old": "gamma", "new": ""}]) == "ALPHA\nbeta\nbeta\n\n"
    with pytest.raises(edits.EditError, match="found 2 times") as caught:
        edits.replace(text, [{"old": "alpha", "new": "a"}, {"old": "beta", "new": "b"}])
    assert caught.value.where == "$.edits[1]"
    with pytest.raises(edits.EditError, match="not found: 'delta'"):
        edits.replace(text, [{"old": "delta", "new": "d"}])


# ---------------------------------------------------------------- the loop with a draft


def run(project: Path, *replies: Any, **options: Any) -> tuple[int, Scripted, Runner]:
    model = Scripted(*replies)
    runner = Runner(RunOptions(workspace=project, max_turns=len(replies), **options), log=lambda line: None, model_factory=lambda *_: model)
    try:
        code = runner.run().exit_code
    except Exception as err:
        code = getattr(err, "exit_code", 1)
    return code, model, runner


def outcome(runner: Runner) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(str(runner.result.transcript)).read_text())
    return data


def sent_results(model: Scripted, turn: int) -> dict[str, dict[str, Any]]:
    return {b["tool_use_id"]: b for b in model.requests[turn]["messages"][-1]["content"] if b["type"] == "tool_result"}


def test_accepting_the_draft_commits_the_planners_artifacts(project: Path) -> None:
    code, model, runner = run(project, answer(submit(1)))
    plan = _approval()
    artifacts = project / "consensus/artifacts"
    assert code == 0 and len(model.requests) == 1
    assert (artifacts / "runbook.md").read_text() == plan.runbook and (artifacts / "cicd.yaml").read_text() == plan.cicd
    assert _unstamped(json.loads((artifacts / "deployment.json").read_text())) == _unstamped(plan.deployment)
    text = model.requests[0]["messages"][0]["content"][0]["text"]
    assert '<draft artifact="runbook.md" from="offline planner">' in text
    draft_plan = text.split('<draft artifact="deployment.json" from="offline planner">\n')[1].split("\n</draft>")[0]
    assert "timestamp" not in json.loads(draft_plan) and json.loads(draft_plan) == _unstamped(plan.deployment)
    transcript = outcome(runner)
    assert transcript["outcome"]["provenance"]["runbook.md"] == "offline planner's draft"
    assert {"turn": 1, "decision": "approve", "provenance": transcript["outcome"]["provenance"]} in transcript["events"]


def test_an_edit_that_breaks_a_rule_is_refused_and_withdraws_until_fixed(project: Path) -> None:
    broken = {"operations": [{"op": "replace", "path": "/infrastructure/resources_required/replicas", "value": 1}]}
    fixed = {"operations": [{"op": "replace", "path": "/infrastructure/resources_required/replicas", "value": 3}]}
    code, model, runner = run(
        project,
        answer(tool(1, "edit_deployment", broken), submit(2)),
        answer(tool(3, "edit_deployment", fixed), submit(4)),
    )
    assert code == 0
    first = sent_results(model, 1)
    assert first["toolu_fixture_01"]["is_error"] and "[deployment.replicas]" in first["toolu_fixture_01"]["content"]
    assert "withdrawn from approval" in first["toolu_fixture_01"]["content"]
    assert "deployment.json is withdrawn" in first["toolu_fixture_02"]["content"]
    deployment = json.loads((project / "consensus/artifacts/deployment.json").read_text())
    assert deployment["infrastructure"]["resources_required"]["replicas"] == 3
    assert outcome(runner)["outcome"]["provenance"]["deployment.json"] == "offline planner's draft, 1 edit(s) by the model"


def test_a_text_edit_that_finds_nothing_is_refused(project: Path) -> None:
    missing = {"edits": [{"old": "this line is not in the workflow", "new": "x"}]}
    code, model, _ = run(project, answer(tool(1, "edit_cicd", missing), submit(2)), answer(submit(3)))
    assert code == 1
    result = sent_results(model, 1)["toolu_fixture_01"]
    assert result["is_error"] and "[edit.apply]" in result["content"] and "not found" in result["content"]
    assert "cicd.yaml is withdrawn" in sent_results(model, 1)["toolu_fixture_02"]["content"]


def test_a_full_rewrite_replaces_the_draft_and_is_marked_as_the_models(project: Path) -> None:
    plan = _approval()
    runbook = plan.runbook.replace("## Contacts", "## Contacts\n- **Pager**: #ops-pager", 1)
    code, _, runner = run(project, answer(tool(1, "write_runbook", {"content": runbook}), submit(2)))
    assert code == 0 and "#ops-pager" in (project / "consensus/artifacts/runbook.md").read_text()
    provenance = outcome(runner)["outcome"]["provenance"]
    draft = "offline planner's draft"
    assert provenance == {"deployment.json": draft, "cicd.yaml": draft, "runbook.md": "written by the model"}


def test_without_a_draft_the_edit_tools_are_not_offered(project: Path) -> None:
    code, model, _ = run(project, answer(tool(1, "edit_deployment", {"operations": []}), submit(2)), answer(submit(3)), draft=False)
    assert code == 1
    assert "edit_deployment" not in {t["name"] for t in model.requests[0]["tools"]}
    assert "Unknown tool 'edit_deployment'" in sent_results(model, 1)["toolu_fixture_01"]["content"]
    assert "<draft" not in model.requests[0]["messages"][0]["content"][0]["text"]


@pytest.fixture
def no_rollback(project: Path) -> Path:
    """A workspace the planner vetoes (plan.json has no rollback plan)."""
    edit_json(project / "consensus/artifacts/plan.json", lambda d: d.pop("rollback_plan"))
    decision = planner.plan(load(Workspace.locate(project)))
    assert decision.kind == "veto" and decision.subject == "no_rollback_plan"
    return project


def test_a_veto_draft_is_accepted_with_one_call(no_rollback: Path) -> None:
    code, model, runner = run(no_rollback, answer(submit(1, "veto", "Agree: no rollback plan.")))
    assert code == 3 and len(model.requests) == 1
    assert "could not draft a safe plan" in model.requests[0]["messages"][0]["content"][0]["text"]
    vetoes = list((no_rollback / "consensus/messages/inbox/quality").glob("veto_*.yaml"))
    assert len(vetoes) == 1 and "subject: no_rollback_plan" in vetoes[0].read_text()
    assert outcome(runner)["outcome"]["provenance"] == {"veto": "offline planner's draft"}


def test_a_veto_draft_can_be_overruled_by_an_approval_written_in_full(no_rollback: Path) -> None:
    plan = _approval()  # artifacts for the same service, as the model might write them
    writes = [tool(1, "write_deployment", _unstamped(plan.deployment)), tool(2, "write_cicd", {"content": plan.cicd}),
              tool(3, "write_runbook", {"content": plan.runbook})]
    edit = tool(4, "edit_deployment", {"operations": [{"op": "replace", "path": "/rollback/time_to_rollback_seconds", "value": 20}]})
    code, _, runner = run(no_rollback, answer(edit, *writes, submit(5, reason="Rollback is a redeploy; plan is safe.")))
    assert code == 0
    assert outcome(runner)["outcome"]["provenance"]["deployment.json"] == "written by the model"
    refused = next(e for e in outcome(runner)["events"] if e.get("tool") == "edit_deployment")
    assert not refused["accepted"] and "no deployment.json is staged to edit" in refused["result"]


def test_approving_from_the_draft_costs_a_fraction_of_writing_in_full() -> None:
    sizes = approval_bytes()
    assert sizes["accept"] <= 0.05 * sizes["full"] and sizes["amendment"] <= 0.25 * sizes["full"]
    assert sizes["full"] > 5_000  # the artifacts really are large: the comparison means something


# ---------------------------------------------------------------- the draft follows the plan


REVIEWER_EDIT = {"operations": [{"op": "add", "path": "/infrastructure/namespace", "value": "payments"},
                                {"op": "add", "path": "/infrastructure/container_port", "value": 9000}]}


def staged(project: Path) -> Stage:
    inputs = load(Workspace.locate(project))
    stage = Stage(inputs, datetime(2026, 1, 2, tzinfo=UTC), set(TOOLS) | {"submit_decision"}, external=False)
    stage.stage_draft(planner.plan(inputs), lambda line: None)
    return stage


def test_a_plan_edit_re_renders_the_untouched_draft_workflow_and_runbook(project: Path) -> None:
    stage = staged(project)
    result, ok = stage.call(ToolCall("t1", "edit_deployment", REVIEWER_EDIT))
    assert ok and "cicd.yaml and runbook.md were re-rendered from the edited plan" in result
    text, accepted, decision = stage.submit({"decision": "approve", "reason": "Moved to the payments namespace."})
    assert accepted and isinstance(decision, Approve), text
    manifests = [yaml.safe_load(t) for p, t in decision.derived.items() if p.startswith("k8s/production/") and "kustomization" in p]
    assert manifests and all(m["namespace"] == "payments" for m in manifests)
    env = {k: v for job in yaml.safe_load(decision.cicd)["jobs"].values() for k, v in (job.get("env") or {}).items()}
    assert env["NAMESPACE"] == "payments" and env["PORT"] == "9000"
    assert "NAMESPACE=payments" in decision.runbook and "NAMESPACE=api" not in decision.runbook
    assert stage.provenance(decision)["cicd.yaml"] == "offline planner's draft, re-rendered after 1 plan edit(s)"


def test_an_unchanged_plan_renders_the_draft_byte_for_byte(project: Path) -> None:
    stage, draft = staged(project), _approval()
    same = draft.deployment["rollback"]["time_to_rollback_seconds"]
    no_op = {"operations": [{"op": "replace", "path": "/rollback/time_to_rollback_seconds", "value": same}]}
    result, ok = stage.call(ToolCall("t1", "edit_deployment", no_op))
    assert ok and "re-rendered" not in result
    assert stage.slots["cicd.yaml"].value == draft.cicd and stage.slots["runbook.md"].value == draft.runbook
    assert stage.slots["cicd.yaml"].provenance() == "offline planner's draft"


def test_a_workflow_the_model_edited_is_not_re_rendered(project: Path) -> None:
    stage, draft = staged(project), _approval()
    comment = {"edits": [{"old": "jobs:\n", "new": "# reviewed\njobs:\n"}]}
    assert stage.call(ToolCall("t1", "edit_cicd", comment))[1]
    result, ok = stage.call(ToolCall("t2", "edit_deployment", REVIEWER_EDIT))
    assert ok and "runbook.md was re-rendered from the edited plan" in result and "cicd.yaml" not in result
    assert stage.slots["cicd.yaml"].value == draft.cicd.replace("jobs:\n", "# reviewed\njobs:\n", 1)
    assert "NAMESPACE=payments" in stage.slots["runbook.md"].value


def test_the_transcript_says_the_draft_was_re_rendered(project: Path) -> None:
    code, _, runner = run(project, answer(tool(1, "edit_deployment", REVIEWER_EDIT), submit(2)))
    assert code == 0 and "NAMESPACE: payments" in (project / "consensus/artifacts/cicd.yaml").read_text()
    provenance = outcome(runner)["outcome"]["provenance"]
    assert provenance["runbook.md"] == "offline planner's draft, re-rendered after 1 plan edit(s)"
    assert provenance["deployment.json"] == "offline planner's draft, 1 edit(s) by the model"
