"""The two JSON Schema engines give one verdict: jsonschema-rs decides, python-jsonschema explains what it rejects.

Each of our schemas and the CRD schemas is checked against valid documents and systematic mutations of them (each
value replaced by every JSON type and by edge strings where the regex dialects part, each key removed, an unknown key
added): the Checker passes what jsonschema-rs passes, so the engines must agree, except where jsonschema-rs is the
stricter one; errors only jsonschema-rs finds are reported beside python-jsonschema's (fail closed).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator

from agent.facts import Names
from agent.rendering.manifests import render
from agent.validation import check_deployment, k8s, schemas
from agent.validation.schemas import Checker, FastError
from tests.conftest import ROOT

PLAN = json.loads((ROOT / "fixtures" / "validator" / "deployment" / "valid" / "offline-plan.json").read_text())
EDGE_VALUES: list[Any] = [None, True, False, 0, -1, 1, 1.5, 2.0, 10**6, 2**63, -(2**63) - 1]
EDGE_VALUES += ["", "a", "abc\n", "..\n", "x\r", "é" * 70, [], {}, [1], {"k": 1}]
# Where regex dialects part: Python's \\s and \\S count \\x1c-\\x1f and \\x85 as space and U+FEFF as not; ECMA-262 the reverse.
EDGE_VALUES += ["\x1c", "a\x1f", "\x85", "\u2028", "\ufeff", "\u00a0", "/h\x1cx", "/h\ufeffx", "/ok\u3000"]


def mutations(doc: Any) -> Iterator[Any]:
    """``doc`` with one change: each value replaced by each edge value, each key removed, an unknown key added."""
    yield doc
    for path in _paths(doc):
        parent = _at(doc, path[:-1]) if path else None
        if isinstance(parent, dict):
            yield _changed(doc, path, remove=True)
        for value in EDGE_VALUES:
            yield _changed(doc, path, value=value)
        if isinstance(_at(doc, path), dict):
            yield _changed(doc, (*path, "unexpected_key"), value="x")


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _changed(doc: Any, path: tuple[Any, ...], value: Any = None, remove: bool = False) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(doc)
    parent = _at(changed, path[:-1])
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def rendered() -> dict[str, list[Any]]:
    """The example plan's derived documents, by the CRD schema that checks them."""
    import yaml

    by_schema: dict[str, list[Any]] = {}
    for text in render(PLAN, Names("health-check", "artifacts", [])).values():
        for doc in yaml.safe_load_all(text):
            name = k8s.SCHEMAS.get((str(doc.get("apiVersion")), str(doc.get("kind")))) if isinstance(doc, dict) else None
            if name:
                by_schema.setdefault(f"crds/{name}.schema.json", []).append(doc)
    return by_schema


def corpus() -> dict[str, list[Any]]:
    """Per schema file, valid documents: the example plan, the seed's vetoes, a decision-log line, one input of each
    edit tool, and the plan's rendered manifests (for the CRD schemas)."""
    import yaml

    vetoes = [yaml.safe_load(f.read_text()) for f in sorted((ROOT / "fixtures" / "validator" / "veto" / "valid").glob("*.yaml"))]
    return {
        "deployment.schema.json": [PLAN],
        "veto.schema.json": vetoes,
        "decision.schema.json": [DECISION],
        "submit_decision.schema.json": [{"decision": "approve", "reason": "Health endpoint, rollback and monitoring in place."}],
        "text_artifact.schema.json": [{"content": "name: ci\n"}],
        "text_edit.schema.json": [{"edits": [{"old": "## Monitoring\n", "new": "## Monitoring\n- dashboards\n"}]}],
        "deployment_patch.schema.json": [{"operations": [{"op": "replace", "path": "/infrastructure/scaling/max_replicas", "value": 6}]}],
        **rendered(),
    }


DECISION = {
    "timestamp": "2026-11-28T07:21:34Z",
    "agent": "devops",
    "decision": "approve",
    "epic_id": "EP-001",
    "iteration": 1,
    "source_document": "artifacts/review.json",
    "previous_artifacts": ["artifacts/review.json"],
    "details": {
        "artifacts": ["artifacts/deployment.json"],
        "files": {"artifacts/deployment.json": "0" * 64, "artifacts/k8s/dev/a.yaml": "f" * 64},
    },
}


@cache
def verdicts(file: str) -> list[tuple[Any, bool, bool | None, bool]]:
    """Per mutated document: python-jsonschema passes it, jsonschema-rs does (None: cannot take it), the Checker does."""
    schema = schemas.load_file(file)
    full, fast, ours = Draft202012Validator(schema), jsonschema_rs.validator_for(schema, validate_formats=False), Checker(schema)
    found = []
    documents = [m for valid in corpus()[file] for m in mutations(valid)]
    for doc in documents[:: 1 + len(documents) // 2500]:  # at most ~2,500, spread over the whole document
        try:
            fast_ok: bool | None = fast.is_valid(doc)
        except (ValueError, TypeError, OverflowError):
            fast_ok = None
        found.append((doc, not any(full.iter_errors(doc)), fast_ok, not ours.iter_errors(doc)))
    return found


FILES = sorted(corpus())


@pytest.mark.parametrize("file", FILES)
def test_a_document_passes_only_when_both_engines_pass_it(file: str) -> None:
    results = verdicts(file)
    assert any(full for _, full, _, _ in results) and any(not full for _, full, _, _ in results)
    for doc, full, fast, ours in results:
        assert ours == (full and fast is not False), doc


@pytest.mark.parametrize("file", FILES)
def test_the_engines_disagree_only_where_jsonschema_rs_is_stricter_about_line_ends(file: str) -> None:
    """ECMA-262 (jsonschema-rs) ends `$` and `.` at any line terminator, Python only `.` at a newline (and lets `$`
    match before a final one): such a document is refused by the Checker. Never the other way round."""
    for doc, full, fast, _ in verdicts(file):
        if fast is not None and fast != full:
            assert full and not fast, f"jsonschema-rs passes what python-jsonschema rejects: {doc}"
            assert any(end in text for text in _strings(doc) for end in "\n\r\u2028\u2029"), doc


def _strings(doc: Any) -> list[str]:
    return [v for path in _paths(doc) if isinstance(v := _at(doc, path), str)]


def test_a_value_jsonschema_rs_cannot_take_is_judged_by_python_jsonschema_alone() -> None:
    """YAML reads `2026-11-28` as a date, which jsonschema-rs refuses to take (ValueError) rather than judge."""
    import datetime

    checker = Checker({"type": "object", "properties": {"until": {"type": "string"}, "n": {"type": "integer", "maximum": 5}}})
    assert [e.validator for e in checker.iter_errors({"until": datetime.date(2026, 11, 28)})] == ["type"]
    assert [e.validator for e in checker.iter_errors({"until": datetime.date(2026, 11, 28), "n": 2**70})] == ["type", "maximum"]
    assert checker.iter_errors({"until": "2026-11-28", "n": 3}) == []


def test_when_only_jsonschema_rs_rejects_its_own_errors_are_reported() -> None:
    checker = Checker({"type": "string", "pattern": "^[a-z]+$"})
    (error,) = checker.iter_errors("abc\n")
    assert isinstance(error, FastError) and error.validator == "pattern" and "abc" in error.message


def test_a_trailing_newline_only_jsonschema_rs_refuses_keeps_the_policy_rule_of_its_keyword() -> None:
    plan = copy.deepcopy(PLAN)
    plan["monitoring"]["alerts"][0]["for"] = "5m\n"
    plan["monitoring"]["alerts"][0]["labels"] = {"team\n": "sre"}
    found = {(v.path, v.rule) for v in check_deployment(plan, ["/health"])}
    assert {("$.monitoring.alerts[0].for", "deployment.alert_for"), ("$.monitoring.alerts[0].labels", "deployment.alert_labels")} <= found


def test_an_error_only_jsonschema_rs_finds_under_a_ref_keeps_the_policy_rule() -> None:
    """jsonschema-rs 0.30 names the `$ref` in an error's schema path, later releases the place it leads to: both resolve."""
    plan = copy.deepcopy(PLAN)
    plan["health_checks"]["readiness"]["endpoint"] = "/health\n"
    found = {(v.path, v.rule) for v in check_deployment(plan, ["/health"])}
    assert ("$.health_checks.readiness.endpoint", "deployment.probe_endpoint") in found, found


def test_an_invisible_character_is_not_a_production_approval() -> None:
    plan = copy.deepcopy(PLAN)
    production = next(s for s in plan["deployment_strategy"]["stages"] if s["stage"] == "production")
    for invisible in ("\x1c", "\u2028", "\ufeff", " \u200b "):
        production["approval_required"] = invisible
        found = {(v.path, v.rule) for v in check_deployment(plan, ["/health"])}
        assert any(rule == "deployment.production_gated" for _, rule in found), (invisible, found)


def test_a_trailing_newline_in_a_service_name_is_refused_with_a_path() -> None:
    plan = copy.deepcopy(PLAN)
    plan["infrastructure"]["namespace"] = "web\n"
    found = check_deployment(plan, ["/health"])
    assert [v.path for v in found if "namespace" in v.path] == ["$.infrastructure.namespace"], found


def test_a_schema_jsonschema_rs_cannot_compile_is_checked_by_python_jsonschema_alone() -> None:
    checker = Checker({"type": "object", "properties": {"id": {"type": "string", "pattern": r"^[a-z]+\Z"}}})  # `\Z`: Python only
    assert checker.iter_errors({"id": "abc"}) == []
    assert [e.validator for e in checker.iter_errors({"id": "ABC"})] == ["pattern"]
    assert [e.validator for e in checker.iter_errors({"id": 3})] == ["type"]


def test_a_ref_into_a_shared_resource_is_resolved_by_both_engines() -> None:
    from agent.validation.schemas import Resources

    shared = Resources({"https://example.test/defs.json": {"$defs": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}}})
    checker = Checker({"$id": "https://example.test/root.json", "properties": {"port": {"$ref": "defs.json#/$defs/port"}}}, shared)
    assert checker.iter_errors({"port": 8080}) == []
    (error,) = checker.iter_errors({"port": 0})
    assert (error.validator, list(error.absolute_path)) == ("minimum", ["port"])
