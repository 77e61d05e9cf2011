"""Policy limits live once, in the schema, under their rule ids; the model's tool schema carries them without our annotations."""

from __future__ import annotations

import json
from typing import Any

from agent.validation import RULES, check_deployment, deployment, schemas
from tests.conftest import ROOT

BASE = json.loads((ROOT / "fixtures" / "validator" / "deployment" / "valid" / "offline-plan.json").read_text())


def annotated(node: Any) -> set[str]:
    if isinstance(node, dict):
        here = {node["x-rule"]} if isinstance(node.get("x-rule"), str) else set()
        return here.union(*(annotated(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(annotated(v) for v in node))
    return set()


def test_every_schema_rule_is_declared_and_every_declared_schema_rule_is_in_the_schema() -> None:
    in_schema = annotated(schemas.load("deployment"))
    assert set(deployment.SCHEMA_RULES) <= in_schema
    assert in_schema <= set(RULES), in_schema - set(RULES)
    python_rules = {"deployment.stage_order", "deployment.probe_timing", "deployment.scaling_bounds", "deployment.alert_names"}
    assert in_schema - set(deployment.SCHEMA_RULES) == python_rules & in_schema


def test_the_tool_schema_keeps_the_limits_and_drops_the_annotations() -> None:
    from agent.prompting.tools import input_schema

    tool = input_schema("write_deployment")  # what the model is sent
    assert not {"epic_id", "iteration", "timestamp"} & set(tool["properties"])
    assert annotated(tool) == set()
    replicas = tool["properties"]["infrastructure"]["properties"]["resources_required"]["properties"]["replicas"]
    assert replicas == {"type": "integer", "minimum": 2}


def test_the_rollback_limit_is_read_from_the_schema() -> None:
    rollback = schemas.load("deployment")["properties"]["rollback"]["properties"]["time_to_rollback_seconds"]
    assert deployment.MAX_ROLLBACK_SECONDS == rollback["maximum"] == 60


def test_a_type_error_stays_a_schema_error_and_a_limit_carries_its_rule() -> None:
    doc = json.loads(json.dumps(BASE))
    doc["infrastructure"]["resources_required"]["replicas"] = "two"
    doc["infrastructure"]["scaling"]["target_cpu"] = 0
    found = {(v.rule, v.path) for v in check_deployment(doc, [])}
    assert found == {
        ("schema.type", "$.infrastructure.resources_required.replicas"),
        ("deployment.target_cpu", "$.infrastructure.scaling.target_cpu"),
    }


def test_one_violation_per_rule_and_place() -> None:
    doc = json.loads(json.dumps(BASE))
    doc["health_checks"]["liveness"]["success_threshold"] = 0  # breaks `minimum` and `const` alike
    found = [v for v in check_deployment(doc, []) if v.path == "$.health_checks.liveness.success_threshold"]
    assert [v.rule for v in found] == ["deployment.probe_thresholds"]
    assert "Kubernetes requires it" in found[0].message
