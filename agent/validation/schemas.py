"""Load the JSON Schemas in ``schemas/`` (the single source of truth) and check documents against them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache, cached_property
from typing import Any, NamedTuple

from agent import resources
from agent.engines import jsonschema_rs_engine
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
def validator(file: str) -> Checker:
    return Checker(load_file(file))


class Checker:
    """One JSON Schema (2020-12) and the resources its ``$ref``s name, checked by two engines, each at what it is best at.

    jsonschema-rs decides whether a document is valid (~25 ms to import, microseconds a document); python-jsonschema
    (~75 ms to import) is loaded only when it is not, and lists every error with the messages, JSON paths and keywords
    that we report and the model reads, and with them any error jsonschema-rs found that python-jsonschema did not.
    A value jsonschema-rs cannot take (a date YAML read) or a schema it cannot compile goes to python-jsonschema alone.
    Both treat ``format`` as an annotation. What jsonschema-rs passes is passed, so our schemas keep to regex syntax
    that means the same in both dialects (explicit classes, no ``\\s``, ``\\d`` or ``\\w``), and
    `tests/test_schema_engines.py` holds the two engines to one verdict on mutations of valid documents.
    """

    def __init__(self, schema: Mapping[str, Any], resources: Resources | None = None) -> None:
        self.schema, self.resources = schema, resources

    def iter_errors(self, doc: Any) -> list[Any]:
        """Every error of ``doc`` (python-jsonschema's ``ValidationError``s, or :class:`FastError`), none if valid."""
        fast = self._fast
        try:
            if fast is not None and fast.is_valid(doc):
                return []
        except (ValueError, TypeError, OverflowError):
            fast = None  # not a JSON value jsonschema-rs can represent: python-jsonschema decides alone
        found = list(self._full.iter_errors(doc))
        if fast is None:
            return found
        # What jsonschema-rs alone rejects is reported too (rare: the engines' regex dialects differ at the edges).
        reported = {(tuple(err.absolute_path), err.validator) for err in found}
        fast_only = [FastError.of(err, self.schema) for err in fast.iter_errors(doc)]
        return found + [e for e in fast_only if (e.absolute_path, e.validator) not in reported]

    @cached_property
    def _fast(self) -> Any:
        """jsonschema-rs's validator; None for a schema it cannot compile (python-jsonschema then checks alone)."""
        jsonschema_rs = jsonschema_rs_engine()
        try:
            registry = self.resources.fast if self.resources else None
            return jsonschema_rs.validator_for(dict(self.schema), registry=registry, validate_formats=False)
        except (ValueError, jsonschema_rs.ReferencingError):  # an invalid schema or regex, an unresolvable $ref
            return None

    @cached_property
    def _full(self) -> Any:
        from jsonschema import Draft202012Validator

        if self.resources is None:
            return Draft202012Validator(self.schema)
        return Draft202012Validator(self.schema, registry=self.resources.full)


class Resources:
    """Documents that schemas ``$ref`` by URI, held once for every schema that names them (each engine's registry
    caches what it resolves)."""

    def __init__(self, documents: Mapping[str, Any]) -> None:
        self.documents = documents

    @cached_property
    def fast(self) -> Any:
        return jsonschema_rs_engine().Registry(list(self.documents.items()))

    @cached_property
    def full(self) -> Any:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        pairs = ((uri, Resource.from_contents(doc, default_specification=DRAFT202012)) for uri, doc in self.documents.items())
        registry: Registry[Any] = Registry().with_resources(pairs)
        return registry


class FastError(NamedTuple):
    """A jsonschema-rs error with the attributes of python-jsonschema's that our reports read."""

    message: str
    absolute_path: tuple[str | int, ...]
    validator: str
    instance: Any
    schema: Mapping[str, Any]

    @classmethod
    def of(cls, err: Any, root: Mapping[str, Any]) -> FastError:
        """``schema``: the failing keyword's subschema (where its ``x-rule`` is), found from ``root``; else {}."""
        *parents, keyword = err.schema_path or ["schema"]
        node = _subschema(root, parents)
        return cls(str(err.message), tuple(err.instance_path), str(keyword), err.instance, node if isinstance(node, Mapping) else {})


def _subschema(root: Mapping[str, Any], path: list[Any]) -> Any:
    """The node at ``path`` in ``root``, following local ``$ref``s (jsonschema-rs 0.30 keeps them in its paths;
    later releases give the place the reference leads to); None when the path leaves ``root``."""
    node: Any = root
    for part in path:
        if part == "$ref" and isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            node = root if ref.startswith("#") else None
            for token in ref[1:].split("/")[1:] if node is not None else []:
                node = node.get(token.replace("~1", "/").replace("~0", "~")) if isinstance(node, Mapping) else None
        elif isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


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
