"""Every validator rule, as data: fixtures/validator/<artifact>/{valid,invalid}/<case>.

Invalid cases state what they expect: JSON cases in ``$expect`` (and patch a valid
base with ``$base`` + ``$patch``, a JSON merge patch); YAML and Markdown cases in a
first-line comment ``expect: rule @ path; ...``. Adding a case is adding a file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from agent.documents import parse_yaml
from agent.validation import RULES, check_cicd, check_deployment, check_runbook, check_veto, external

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "validator"
_EXPECT = re.compile(r"expect:\s*(.+?)\s*(?:-->)?$")
_PLAN = re.compile(r"^# plan: (\S+)$", re.M)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def load_case(path: Path) -> tuple[str, Any, list[str], list[str]]:
    """(artifact kind, document, declared endpoints, expected 'rule @ path' strings)."""
    kind = path.parent.parent.name
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
        expect = data.pop("$expect", [])
        declared = data.pop("$declared", [])
        if "$base" in data:
            data = merge_patch(json.loads((path.parent / data["$base"]).read_text()), data["$patch"])
        return kind, data, declared, expect
    match = _EXPECT.search(text.splitlines()[0])
    expect = [e.strip() for e in match.group(1).split(";")] if match else []
    if path.suffix == ".md" and text.startswith("<!--"):  # the case's own `<!-- expect: … -->`, not its content (lines kept)
        text = "\n" + text.split("\n", 1)[1]
    return kind, text, [], expect


def violations(kind: str, doc: Any, declared: list[str]) -> list[Any]:
    if kind == "deployment":
        return check_deployment(doc, declared)
    if kind == "cicd":
        # A case that compares the workflow with a plan names it: "# plan: canary.json" (fixtures/validator/cicd/plans/).
        plan = _PLAN.search(doc)
        return check_cicd(doc, json.loads((CASES / "cicd" / "plans" / plan.group(1)).read_text()) if plan else None)
    if kind == "runbook":
        base = json.loads((CASES / "deployment" / "valid" / "offline-plan.json").read_text())
        return check_runbook(doc, base)
    return check_veto(parse_yaml(doc, Path("veto.yaml")))


ALL = sorted(CASES.glob("*/*/*"))
SELF_RUN = {"manifests"}  # run by tests/test_manifests.py, which knows which external tool each case needs
GENERIC = [p for p in ALL if p.parent.parent.name not in SELF_RUN]


@pytest.mark.parametrize("path", [p for p in GENERIC if p.parent.name == "valid"], ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_valid_case_has_no_errors(path: Path) -> None:
    kind, doc, declared, _ = load_case(path)
    assert [str(v) for v in violations(kind, doc, declared) if v.severity == "error"] == []


@pytest.mark.parametrize("path", [p for p in GENERIC if p.parent.name == "invalid"], ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_invalid_case_reports_exactly_what_it_expects(path: Path) -> None:
    kind, doc, declared, expect = load_case(path)
    assert expect, f"{path} states no expectation"
    found = sorted(f"{v.rule} @ {v.path}" for v in violations(kind, doc, declared) if v.severity == "error")
    # A linter this machine lacks is a warning, not a finding (CI sets DEVOPS_AGENT_REQUIRE_TOOLS and installs them all).
    absent = set() if os.environ.get("DEVOPS_AGENT_REQUIRE_TOOLS") else external.missing()
    assert found == sorted(e for e in expect if e.split(" @ ")[0] not in absent)


def test_every_error_rule_has_an_invalid_case() -> None:
    covered: set[str] = set()
    for path in (p for p in ALL if p.parent.name == "invalid"):
        covered |= {e.split(" @ ")[0].split(".")[0] if e.startswith("schema.") else e.split(" @ ")[0] for e in load_case(path)[3]}
    # Rules about a whole workspace rather than one file, each tested where a workspace is at hand:
    # artifact.missing (tests/test_model_loop.py), the other two (tests/test_validate_command.py).
    workspace_rules = {"artifact.missing", "manifests.up_to_date", "decision.files_match"}
    wanted = {r.id for r in RULES.values() if r.severity == "error" and r.id not in workspace_rules}
    assert wanted - covered == set()


def test_seed_workflow_gets_hygiene_warnings_not_errors() -> None:
    text = (CASES / "cicd" / "valid" / "seed-with-current-majors.yaml").read_text()
    found = check_cicd(text, external=False)
    assert {v.rule for v in found} == {"cicd.hygiene"}
    assert all(v.severity == "warning" for v in found)


def test_yaml11_true_key_is_explained() -> None:
    found = check_cicd("true:\n  push: {}\njobs: {}\n")
    assert any("YAML 1.1" in v.message for v in found if v.path == "$.on")


def _chain(length: int) -> dict[str, Any]:
    """A workflow whose jobs each need the next, in the order they are checked: 20,000 hours of soak once rendered 4,000."""
    job = {"runs-on": "ubuntu-latest", "steps": [{"run": "sleep 1"}]}
    jobs = {f"soak-{i:05d}": {**job, "needs": f"soak-{i + 1:05d}"} for i in range(length - 1)}
    return {"on": "push", "jobs": {**jobs, f"soak-{length - 1:05d}": dict(job)}}


def test_a_long_needs_chain_is_walked_without_recursion() -> None:
    from agent.validation import cicd

    doc = _chain(20_000)
    assert list(cicd.no_cycles(doc)) == []  # was RecursionError (maximum recursion depth exceeded) past ~1,000 jobs
    doc["jobs"]["soak-19999"]["needs"] = "soak-00000"
    assert [(v.rule, v.path) for v in cicd.no_cycles(doc)] == [("cicd.no_cycles", "$.jobs.soak-00000.needs")]
    doc["jobs"]["soak-19999"]["needs"] = "soak-19999"
    assert [v.path for v in cicd.no_cycles(doc)] == ["$.jobs.soak-19999.needs"]


def test_the_whole_workflow_check_takes_a_long_chain() -> None:
    found = check_cicd(json.dumps(_chain(4_000)), external=False)
    assert "cicd.no_cycles" not in {v.rule for v in found}
