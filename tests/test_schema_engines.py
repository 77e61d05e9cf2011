"""The two JSON Schema engines give one verdict: jsonschema-rs decides, python-jsonschema explains what it rejects.

Every schema we ship is checked against its valid documents and systematic mutations of them (each value replaced by
every JSON type and edge value, each key removed, an unknown key added); a document is passed only if both engines
pass it, and when python-jsonschema finds nothing wrong with a document jsonschema-rs rejects, jsonschema-rs's errors
are reported (fail closed).
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
EDGE_VALUES += ["", "a", "abc\n", "é" * 70, [], {}, [1], {"k": 1}]


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
    """Per schema file, its valid documents: the example plan, the seed's veto, the plan's rendered manifests."""
    import yaml

    vetoes = [yaml.safe_load(f.read_text()) for f in sorted((ROOT / "fixtures" / "validator" / "veto" / "valid").glob("*.yaml"))]
    return {"deployment.schema.json": [PLAN], "veto.schema.json": vetoes, **rendered()}


@cache
def verdicts(file: str) -> list[tuple[Any, bool, bool | None, bool]]:
    """Per mutated document: python-jsonschema passes it, jsonschema-rs does (None: cannot take it), the Checker does."""
    schema = schemas.load_file(file)
    full, fast, ours = Draft202012Validator(schema), jsonschema_rs.validator_for(schema, validate_formats=False), Checker(schema)
    found = []
    for doc in [m for valid in corpus()[file] for m in mutations(valid)][:2500]:
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
def test_the_engines_disagree_only_where_python_lets_a_pattern_end_before_a_final_newline(file: str) -> None:
    """Python's `$` also matches before a final newline, ECMA-262's (jsonschema-rs) does not: the Checker refuses."""
    for doc, full, fast, _ in verdicts(file):
        if fast is not None and fast != full:
            assert full and not fast and "abc\n" in _strings(doc), doc


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
