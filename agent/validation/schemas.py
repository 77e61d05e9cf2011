"""Load the JSON Schemas in ``schemas/`` (the single source of truth) and check documents against them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from agent import resources
from agent.validation.violations import Violation, json_path, rule

SCHEMA_FILES = {
    "deployment": "deployment.schema.json",
    "veto": "veto.schema.json",
    "decision": "decision.schema.json",
    "text_artifact": "text_artifact.schema.json",
    "submit_decision": "submit_decision.schema.json",
}


@cache
def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.read("schemas", SCHEMA_FILES[name]))
    return schema


@cache
def _validator(name: str) -> Any:
    # jsonschema costs ~0.2 s to import; only checking needs it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load(name))


@rule("schema", "all", "the document matches its JSON Schema in `schemas/` (types, required fields, enums)")
def check(name: str, doc: Any, artifact: str) -> list[Violation]:
    """Every schema error, each as a violation ``schema.<keyword>`` at its JSON path."""
    found = [
        Violation(artifact, json_path(err.absolute_path), f"schema.{err.validator}", _message(err))
        for err in _validator(name).iter_errors(doc)
    ]
    return sorted(found)


def _message(err: Any) -> str:
    if err.validator == "required":
        return str(err.message).replace(" is a required property", " is required")
    if err.validator == "additionalProperties":
        return str(err.message).replace("were unexpected", "are not allowed").replace("was unexpected", "is not allowed")
    return str(err.message)


def tool_input_schema(name: str, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A schema for a tool's input: the artifact schema minus the fields the agent stamps."""
    schema = {k: v for k, v in load(name).items() if k not in {"$schema", "$id", "title"}}
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in drop}
    schema["required"] = [k for k in schema["required"] if k not in drop]
    return schema
