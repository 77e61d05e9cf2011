"""Policy limits live once, in the schema, under their rule ids; the model's tool schema carries them without our annotations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.rendering import workflow
from agent.validation import RULES, check_cicd, check_deployment, deployment, errors, k8s, schemas
from agent.validation.violations import json_path
from tests.conftest import ROOT, require
from tests.services import SERVICES, make, plan_for

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
    assert replicas == {"type": "integer", "minimum": 2, "maximum": 150_000}


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


# ---- maxima: every number that becomes a Kubernetes, Argo, Prometheus or workflow number is bounded ----------------

Path_ = tuple[str | int, ...]
SOAK, CANARY = ("deployment_strategy", "stages", 1, "soak_time_hours"), ("deployment_strategy", "stages", 2, "canary_duration_hours")
INTERVAL, TIMEOUT = ("health_checks", "liveness", "interval_seconds"), ("health_checks", "liveness", "timeout_seconds")
MIN_REPLICAS, MAX_REPLICAS = ("infrastructure", "scaling", "min_replicas"), ("infrastructure", "scaling", "max_replicas")
LONGEST_FOR = "99y999w9999d99999h999999m99999999s9999999999ms"
# (field, its maximum, the rule it is reported under, whether it is an integer, fields a plan at the maximum also needs)
LIMITS: list[tuple[Path_, float, str, bool, dict[Path_, Any]]] = [
    (
        ("infrastructure", "resources_required", "replicas"),
        150_000,
        "deployment.replicas",
        True,
        {MIN_REPLICAS: 150_000, MAX_REPLICAS: 150_000},
    ),
    (MIN_REPLICAS, 150_000, "deployment.scaling_bounds", True, {MAX_REPLICAS: 150_000}),
    (MAX_REPLICAS, 150_000, "deployment.scaling_bounds", True, {}),
    (("health_checks", "readiness", "interval_seconds"), 3600, "deployment.probe_timing", False, {}),
    (INTERVAL, 3600, "deployment.probe_timing", False, {}),
    (TIMEOUT, 300, "deployment.probe_timing", False, {INTERVAL: 3600}),
    (
        ("health_checks", "readiness", "timeout_seconds"),
        300,
        "deployment.probe_timing",
        False,
        {("health_checks", "readiness", "interval_seconds"): 3600},
    ),
    (("health_checks", "readiness", "success_threshold"), 100, "deployment.probe_thresholds", True, {}),
    (("health_checks", "readiness", "failure_threshold"), 100, "deployment.probe_thresholds", True, {}),
    (("health_checks", "liveness", "failure_threshold"), 100, "deployment.probe_thresholds", True, {}),
    (SOAK, 168, "deployment.soak_time", False, {}),
    (("deployment_strategy", "stages", 0, "soak_time_hours"), 168, "deployment.soak_time", False, {}),
    (CANARY, 5, "deployment.canary_settings", False, {}),
    # Bounded before; held here to the same huge values.
    (("deployment_strategy", "stages", 2, "canary_percentage"), 50, "deployment.canary_settings", False, {}),
    (("infrastructure", "scaling", "target_cpu"), 100, "deployment.target_cpu", True, {}),
    (("infrastructure", "container_port"), 65535, "deployment.ports", True, {("infrastructure", "metrics_port"): 65535}),
    (("rollback", "time_to_rollback_seconds"), 60, "deployment.rollback_time", False, {}),
]
LIMIT_IDS = [".".join(map(str, limit[0])) for limit in LIMITS]


def changed(changes: dict[Path_, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return doc


def rules_at(doc: dict[str, Any], path: Path_) -> list[str]:
    return [v.rule for v in check_deployment(doc, []) if v.path == json_path(path)]


@pytest.mark.parametrize(("path", "maximum", "rule_id", "integer", "also"), LIMITS, ids=LIMIT_IDS)
def test_a_plan_at_each_maximum_is_valid(path: Path_, maximum: float, rule_id: str, integer: bool, also: dict[Path_, Any]) -> None:
    assert [str(v) for v in check_deployment(changed({**also, path: maximum}), [])] == []


@pytest.mark.parametrize(("path", "maximum", "rule_id", "integer", "also"), LIMITS, ids=LIMIT_IDS)
def test_beyond_each_maximum_is_refused_under_its_rule(
    path: Path_, maximum: float, rule_id: str, integer: bool, also: dict[Path_, Any]
) -> None:
    # Just over; a float the size of the red team's (1e300 rendered a 301-digit periodSeconds); an int past int64.
    for value in (maximum + (1 if integer else 0.5), 1e300, 10**30, 99999999999999):
        found = rules_at(changed({**also, path: value}), path)
        assert found == [rule_id], (value, found)


def test_an_integer_field_takes_no_fraction_and_a_whole_float_only_within_its_maximum() -> None:
    # JSON Schema counts 1e300 as an integer (no fraction): only the maximum refuses it, under the field's rule.
    assert rules_at(changed({MAX_REPLICAS: 10.5}), MAX_REPLICAS) == ["schema.type"]
    assert rules_at(changed({MAX_REPLICAS: 12.0}), MAX_REPLICAS) == []
    assert rules_at(changed({MAX_REPLICAS: 1e300}), MAX_REPLICAS) == ["deployment.scaling_bounds"]


def test_the_summaries_quote_the_schema_maxima() -> None:
    assert "150,000" in RULES["deployment.replicas"].summary and "150,000" in RULES["deployment.scaling_bounds"].summary
    assert "168" in RULES["deployment.soak_time"].summary and "5 h" in RULES["deployment.canary_settings"].summary
    assert "3600" in RULES["deployment.probe_timing"].summary and "100" in RULES["deployment.probe_thresholds"].summary


def test_a_plan_at_every_maximum_renders_a_workflow_and_manifests_that_pass(tmp_path: Path) -> None:
    """The maxima agree with what the renderers can do: a 5 h canary fits a GitHub-hosted job, a week's soak 34 jobs."""
    body, facts = plan_for(make(tmp_path / "repo", SERVICES["python-canary"]))
    plan = {"epic_id": "EP-001", "iteration": 1, "timestamp": "2026-11-27T12:00:00Z", **body}
    stages = plan["deployment_strategy"]["stages"]
    assert [s["stage"] for s in stages] == ["dev", "staging", "production"] and plan["deployment_strategy"]["type"] == "canary"
    stages[1]["soak_time_hours"], stages[2]["canary_duration_hours"] = 168, 5
    plan["infrastructure"]["resources_required"]["replicas"] = 150_000
    plan["infrastructure"]["scaling"] |= {"min_replicas": 150_000, "max_replicas": 150_000}
    plan["health_checks"]["readiness"] |= {
        "interval_seconds": 3600,
        "timeout_seconds": 300,
        "success_threshold": 100,
        "failure_threshold": 100,
    }
    plan["health_checks"]["liveness"] |= {"interval_seconds": 3600, "timeout_seconds": 300, "failure_threshold": 100}
    for alert in plan["monitoring"]["alerts"]:  # the Down alert must page within 15m (alerts.availability): not it
        alert["for"] = "15m" if alert["name"].endswith("Down") else LONGEST_FOR
    assert [str(v) for v in check_deployment(plan, [])] == []
    text = workflow.render(facts, plan)
    jobs = yaml.safe_load(text)["jobs"]
    soaks = [name for name in jobs if name.startswith("soak-staging")]
    assert len(soaks) == math.ceil(168 * 60 / workflow.SOAK_CHUNK_MINUTES) == 34
    # The production deploy waits out the 5 h pause and the 10-minute step to 50 % with the renderer's own margin.
    assert int(jobs["deploy-production"]["env"]["WAIT_SECONDS"]) >= (5 * 60 + 10 + workflow.ENGINE_MARGIN_MINUTES) * 60
    assert [str(v) for v in errors(check_cicd(text, plan))] == []
    require("promtool")  # the longest `for` the schema allows loads in Prometheus
    assert [str(v) for v in errors(k8s.check_plan(plan, facts))] == []


def test_soak_jobs_are_bounded_where_they_are_made() -> None:
    """The schema holds a plan to a week; _chunks refuses more on its own rather than build millions of jobs."""
    assert workflow._chunks(168 * 60)[-1] == 168 * 60 % workflow.SOAK_CHUNK_MINUTES
    with pytest.raises(ValueError, match="soak_time_hours"):
        workflow._chunks(10**7)  # ~33,000 jobs; 1e300 hours once asked for 2e299 jobs and took 19 GB before it was killed


# ---- namespace and image ------------------------------------------------------------------------------------------

NAMESPACE, IMAGE = ("infrastructure", "namespace"), ("infrastructure", "image")


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "kube-anything"])
def test_kubernetes_own_namespaces_are_refused(namespace: str) -> None:
    found = [v for v in check_deployment(changed({NAMESPACE: namespace}), []) if v.path == "$.infrastructure.namespace"]
    assert [v.rule for v in found] == ["deployment.namespace_reserved"]
    assert "kube-system" in found[0].message and "the app's own" in found[0].message


@pytest.mark.parametrize("namespace", ["kube", "kubeflow", "my-kube-app", "kubernetes", "api"])
def test_other_namespaces_are_fine(namespace: str) -> None:
    assert [str(v) for v in check_deployment(changed({NAMESPACE: namespace}), [])] == []


@pytest.mark.parametrize(
    "image",
    [
        "evil.example/attacker/pwn",  # another registry: `kubectl apply -k` would pull it
        "attacker/pwn",  # Docker Hub, a user's repository
        "docker.io/library/nginx",
        "ghcr.io/attacker",  # not owner/repo
        "ghcr.io/acme/refunds/extra",  # the workflow pushes ghcr.io/<owner>/<repo>, no deeper
        "ghcr.io:443/acme/refunds",
        "GHCR.IO/acme/refunds",
        "ghcr.io/Acme/refunds",
        "ghcr.io/-acme/refunds",
        "ghcr.io/acme/refunds:latest",
        "ghcr.io/acme/refunds@sha256:" + "0" * 64,
        "localhost:5000/refunds",
        "ghcr.io/" + "a" * 40 + "/refunds",  # a GitHub owner has at most 39 characters
        "ghcr.io/acme/" + "r" * 101,  # a GitHub repository name at most 100
        "Api",
        "-api",
    ],
)
def test_an_image_the_workflow_does_not_build_is_refused(image: str) -> None:
    found = [v for v in check_deployment(changed({IMAGE: image}), []) if v.path == "$.infrastructure.image"]
    assert [v.rule for v in found] == ["deployment.image"]
    assert "ghcr.io/<owner>/<repo>" in found[0].message


@pytest.mark.parametrize(
    "image",
    [
        "api",
        "refunds-v2",
        "ghcr.io/acme/refunds",
        "ghcr.io/acme-corp/refunds.api",
        "ghcr.io/a/b_c",
        "ghcr.io/" + "a" * 39 + "/" + "r" * 100,
    ],
)
def test_the_app_name_and_the_ghcr_repository_the_workflow_pushes_are_fine(image: str) -> None:
    assert [str(v) for v in check_deployment(changed({IMAGE: image}), [])] == []


@pytest.mark.parametrize("wait", ["99y", "999w", "9999d", "99999h", "999999m", "99999999s", "9999999999ms", LONGEST_FOR])
def test_an_alert_for_within_the_digits_passes(wait: str) -> None:
    assert [str(v) for v in check_deployment(changed({("monitoring", "alerts", 0, "for"): wait}), [])] == []


@pytest.mark.parametrize("wait", ["999y", "9999w", "99999d", "999999h", "9999999m", "999999999s", "99999999999ms", "1" + "0" * 30 + "s"])
def test_an_alert_for_beyond_the_digits_is_refused(wait: str) -> None:
    """Prometheus holds a duration in int64 nanoseconds (~292 years; promtool: `duration out of range` for 999y). The
    digits allowed per unit keep even their sum (LONGEST_FOR, ~162 years) inside, so a plan never renders rules that fail to load."""
    path = ("monitoring", "alerts", 0, "for")
    assert rules_at(changed({path: wait}), path) == ["deployment.alert_for"]
