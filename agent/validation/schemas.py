"""Load the JSON Schemas in ``schemas/`` (the single source of truth) and check documents against them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from agent import resources
from agent.validation.violations import RULES, Violation, json_path, rule

SCHEMA_FILES = {
    "deployment": "deployment.schema.json",
    "veto": "veto.schema.json",
    "decision": "decision.schema.json",
    "text_artifact": "text_artifact.schema.json",
    "submit_decision": "submit_decision.schema.json",
}


def load(name: str) -> dict[str, Any]:
    return load_file(SCHEMA_FILES[name])


@cache
def load_file(file: str) -> dict[str, Any]:
    """A schema of ``schemas/`` by file name, read once per process (the tool definitions and the checks share it)."""
    schema: dict[str, Any] = json.loads(resources.read("schemas", file))
    return schema


@cache
def validator(file: str) -> Any:
    # python-jsonschema costs ~50 ms to import; only checking needs it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_file(file))


@rule("schema", "all", "the document matches its JSON Schema in `schemas/` (types, required fields, enums)")
def check(name: str, doc: Any, artifact: str) -> list[Violation]:
    """Every schema error as a violation at its JSON path: ``schema.<keyword>``, or the policy rule its ``x-rule`` names."""
    found: list[Violation] = []
    seen: set[tuple[str, str]] = set()
    for err in validator(SCHEMA_FILES[name]).iter_errors(doc):
        policy = _policy_rule(err)
        found_here = Violation(artifact, json_path(err.absolute_path), policy or f"schema.{err.validator}", _message(err, policy))
        # One violation per policy rule and place: a liveness threshold of 0 breaks `minimum` and `const` alike.
        if policy and (found_here.path, policy) in seen:
            continue
        seen.add((found_here.path, found_here.rule))
        found.append(found_here)
    return sorted(found)


def _policy_rule(err: Any) -> str | None:
    """The rule id annotated beside the failing keyword; type errors stay ``schema.type`` (the shape, not a limit)."""
    rule_id = err.schema.get("x-rule") if isinstance(err.schema, dict) else None
    return rule_id if isinstance(rule_id, str) and err.validator != "type" else None


def _message(err: Any, policy: str | None) -> str:
    text = str(err.message)
    if err.validator == "required":
        text = text.replace(" is a required property", " is required")
    elif err.validator == "additionalProperties":
        text = text.replace("were unexpected", "are not allowed").replace("was unexpected", "is not allowed")
    if not policy:
        return text
    if err.validator == "pattern":
        text = f"{err.instance!r} is not allowed"
    summary = RULES[policy].summary if policy in RULES else policy
    # A `contains` message repeats the whole list; the rule's summary says it better.
    return summary if err.validator == "contains" or len(text) > 120 else f"{text}: {summary}"
