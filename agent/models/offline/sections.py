"""Sections of the offline plan that follow from facts and policy: stages, infrastructure, probes, rollback."""

from __future__ import annotations

import re
from typing import Any

from agent.facts import Facts
from agent.inputs import Inputs
from agent.names import namespace_for

DEFAULT_PORT = 8080
DEFAULT_METRICS_PATH = "/metrics"
CANARY = {"canary_percentage": 10, "canary_duration_hours": 1}
_PATH = re.compile(r"(?:/(?!:)[A-Za-z0-9._~-]*)+")


def stages(inputs: Inputs, kind: str) -> list[dict[str, Any]]:
    integration = "integration_tests" in inputs.plan.test_strategy
    load_asked = "load" in str(inputs.review.test_analysis.get("additional_scenarios_needed", "")).lower()
    production: dict[str, Any] = {
        "stage": "production",
        "automatic": False,
        "approval_required": "tech_lead",
        "tests": ["smoke", "synthetic"],
        "rollback_automatic": True,
    }
    if kind == "canary":
        production |= CANARY
    return [
        {"stage": "dev", "automatic": True, "tests": ["smoke", *(["integration"] if integration else [])], "rollback_automatic": True},
        {
            "stage": "staging",
            "automatic": True,
            "tests": ["smoke", "integration", *(["performance"] if load_asked else [])],
            "rollback_automatic": True,
            "soak_time_hours": 2,
        },
        production,
    ]


def infrastructure(facts: Facts) -> dict[str, Any]:
    """Resources, scaling and what rendering needs (namespace, image, ports, metrics path); every default is named."""
    port = facts.port or DEFAULT_PORT
    path = facts.metrics_path if facts.metrics_path and _PATH.fullmatch(facts.metrics_path) else DEFAULT_METRICS_PATH
    facts.assumptions.append("resources not declared; conservative defaults 100m CPU / 128Mi memory, 2-10 replicas")
    facts.assumptions.append(
        f"namespace {namespace_for(facts.app)!r} and image name {facts.app!r}, from the app name (the workflow deploys the image it"
        " builds, by commit SHA)"
    )
    if not facts.port:
        facts.assumptions.append(f"container port not declared; {DEFAULT_PORT} assumed (probes and the Service use it)")
    if path != facts.metrics_path:
        facts.assumptions.append(f"metrics endpoint not declared; Prometheus scrapes {DEFAULT_METRICS_PATH} on the container port")
    return {
        "resources_required": {"cpu": "100m", "memory": "128Mi", "replicas": 2},
        "scaling": {"min_replicas": 2, "max_replicas": 10, "target_cpu": 70},
        "namespace": namespace_for(facts.app),
        "image": facts.app,
        "container_port": port,
        "metrics_port": port,
        "metrics_path": path,
    }


def health_checks(facts: Facts) -> dict[str, Any]:
    probe = {"timeout_seconds": 5, "success_threshold": 1, "failure_threshold": 3}
    return {
        "readiness": {"endpoint": facts.readiness, "interval_seconds": 10, **probe},
        "liveness": {"endpoint": facts.liveness, "interval_seconds": 30, **probe},
    }


def engine_steps(kind: str, app: str) -> list[str]:
    """How the rollout engine reverses this strategy: Argo Rollouts aborts a canary or blue/green; a Deployment is undone."""
    if kind == "rolling":
        return [
            f"Undo the rollout: kubectl rollout undo deployment/{app} (the previous ReplicaSet returns, maxUnavailable 0 keeps capacity)",
            f"Wait for it: kubectl rollout status deployment/{app} --timeout=120s",
        ]
    what = "the canary is scaled down and all traffic stays on the stable version"
    if kind == "blue_green":
        what = "the active Service switches back to the previous (still running) version"
    return [
        f"Abort the rollout: a failed analysis aborts it automatically, by hand kubectl argo rollouts abort {app}; {what}",
        f"Mark the release bad so it is not retried: kubectl argo rollouts undo {app} after the abort",
    ]


def plan_steps(procedure: list[Any]) -> list[str]:
    """The plan's own rollback steps, numbering dropped (ours is added), one line each."""
    steps = [re.sub(r"^\s*(?:\d+[.)]|[-*])\s*", "", " ".join(str(step).split())) for step in procedure]
    return [f"From the plan: {step}" for step in steps if step]
