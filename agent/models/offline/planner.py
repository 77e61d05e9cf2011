"""The offline planner: derive a safe deployment plan from the inputs alone, or veto.

Every value is either a fact from the workspace or a conservative default that is
named in the plan's ``assumptions``; when a fact a safe plan needs cannot be found
(no health endpoint, no rollback plan), it vetoes as the seed prescribes.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from agent import rendering
from agent.artifacts import Approve, Decision, Veto
from agent.facts import Facts
from agent.upstream import Plan
from agent.validation.deployment import MAX_ROLLBACK_SECONDS
from agent.workspace import Inputs

ROLLBACK_SECONDS = 30
_HEALTH_WORDS = ("health", "ready", "live", "ping", "status")


def plan(inputs: Inputs) -> Decision:
    facts_or_veto = gather(inputs)
    if isinstance(facts_or_veto, Veto):
        return facts_or_veto
    facts = facts_or_veto
    deployment = build_deployment(inputs, facts)
    return Approve(
        deployment=deployment,
        cicd=rendering.workflow(inputs, facts, deployment),
        runbook=rendering.runbook(facts, deployment),
        reason=f"offline planner: {deployment['deployment_strategy']['type']} deployment of {facts.service}",
    )


def gather(inputs: Inputs) -> Facts | Veto:
    impl, assumptions = inputs.implementation, list[str]()
    declared = impl.declared_endpoints()
    files = impl.files()
    probes = _probes(declared, files, inputs.plan, assumptions)
    if probes is None:
        return _veto(
            "missing_health_checks",
            "No health check endpoint defined",
            "artifacts/implementation.json: service.endpoints / tasks_completed",
            "Cannot tell whether the service is alive or ready; no safe rollout or automatic rollback",
            "Readiness and liveness endpoints (seed: MUST HAVE before deployment)",
            "Implement a /health endpoint (or /ready and /live) and declare it in implementation.json service.endpoints",
            "add_health_monitoring",
        )
    rollback = inputs.plan.rollback_plan
    if rollback is None or not rollback.procedure:
        return _veto(
            "no_rollback_plan",
            "No rollback plan",
            "artifacts/plan.json: rollback_plan",
            "A failed release could not be reversed quickly",
            "A rollback plan with trigger conditions and a procedure",
            "Add rollback_plan (trigger_conditions, procedure, time_to_rollback) to plan.json",
            "add_rollback_plan",
        )
    service = impl.service.name if impl.service and impl.service.name else None
    app = _slug(service) if service else _app_from_files(files, assumptions) or _slug(inputs.epic_id)
    if not service:
        service = (inputs.title or f"{inputs.epic_id} service").strip()
        assumptions.append(f"service name not declared; using {service!r} (Kubernetes name {app!r})")
    deps = [str(d) for d in impl.service.dependencies] if impl.service else []
    return Facts(
        service=service,
        app=app,
        title=inputs.title or service,
        readiness=probes[0],
        liveness=probes[1],
        endpoints=declared or sorted(set(probes)),
        dependencies=deps,
        source_dir=_source_dir(files),
        python=any(f.endswith(".py") for f in files) or "pytest" in str(inputs.plan.test_strategy),
        assumptions=assumptions,
    )


def _probes(declared: list[str], files: list[str], plan_: Plan, assumptions: list[str]) -> tuple[str, str] | None:
    if declared:
        health = [e for e in declared if any(w in e.lower() for w in _HEALTH_WORDS)]
        if not health:
            return None
        ready = next((e for e in health if "ready" in e), health[0])
        live = next((e for e in health if "live" in e), health[0])
        return ready, live
    evidence = [f for f in files if "health" in PurePosixPath(f).stem.lower()]
    evidence += [c for c in plan_.test_cases() if "health" in c.lower()]
    if not evidence:
        return None
    assumptions.append(f"no endpoints declared; /health inferred from {evidence[0]!r}")
    return "/health", "/health"


def _app_from_files(files: list[str], assumptions: list[str]) -> str | None:
    for f in files:
        parts = PurePosixPath(f).parts
        if len(parts) >= 2 and parts[0] in {"src", "app", "lib"} and "health" in parts[-1]:
            return _slug(parts[-2])
    return None


def _source_dir(files: list[str]) -> str:
    tops = [PurePosixPath(f).parts[0] for f in files if len(PurePosixPath(f).parts) > 1]
    sources = [t for t in tops if t not in {"tests", "test", "docs"}]
    return max(sorted(set(sources)), key=sources.count) if sources else "src"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63] or "app"


def _veto(subject: str, violation: str, location: str, impact: str, requirement: str, suggestion: str, action: str) -> Veto:
    return Veto(
        subject=subject,
        content={
            "violation": violation,
            "location": location,
            "impact": impact,
            "requirement": requirement,
            "suggestion": suggestion,
            "blocking": True,
        },
        action_needed=action,
        reason=f"offline planner: {violation.lower()}",
        source="planner",
    )


def _camel(app: str) -> str:
    return "".join(part.capitalize() for part in app.split("-")) or "Service"


def monitoring(facts: Facts) -> dict[str, Any]:
    job, name = facts.app, _camel(facts.app)
    rate = f'sum(rate(http_requests_total{{job="{job}"}}[5m]))'
    errors = f'sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[5m]))'
    p99 = f'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m])))'
    return {
        "metrics": [
            {
                "name": "http_request_duration_seconds",
                "type": "histogram",
                "unit": "seconds",
                "alert_threshold": "p99 > 0.5s for 5m",
            },
            {
                "name": "http_requests_total",
                "type": "counter",
                "unit": "requests",
                "alert_threshold": "5xx ratio > 1% for 5m",
            },
            {"name": "up", "type": "gauge", "alert_threshold": "== 0 for 1m"},
        ],
        "dashboards": [
            {
                "name": f"{facts.service} Performance",
                "panels": ["latency_p99", "error_rate", "request_rate", "pod_restarts"],
            }
        ],
        "alerts": [
            {
                "name": f"{name}Down",
                "condition": f'up{{job="{job}"}} == 0',
                "severity": "critical",
                "action": "page_on_call",
            },
            {
                "name": f"{name}HighErrorRate",
                "condition": f"{errors} / {rate} > 0.01",
                "severity": "critical",
                "action": "page_on_call",
            },
            {
                "name": f"{name}HighLatency",
                "condition": f"{p99} > 0.5",
                "severity": "warning",
                "action": "notify_team_channel",
            },
        ],
    }


def strategy(plan_: Plan) -> tuple[str, str]:
    impacts = {r.impact for r in plan_.risks} | {r.likelihood for r in plan_.risks if r.impact in {"high", "critical"}}
    if impacts & {"high", "critical"}:
        return (
            "canary",
            "A high-impact risk in the plan: expose 10% of traffic first and roll back automatically on error",
        )
    if "medium" in impacts:
        return (
            "blue_green",
            "Medium-impact risks in the plan: keep the previous version warm for an instant switch back",
        )
    return (
        "rolling",
        "Low-risk change: a rolling update with readiness gating keeps capacity without a second environment",
    )


def build_deployment(inputs: Inputs, facts: Facts) -> dict[str, Any]:
    kind, reason = strategy(inputs.plan)
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
        production |= {"canary_percentage": 10, "canary_duration_hours": 1}
    rollback = inputs.plan.rollback_plan
    triggers = [str(t) for t in rollback.trigger_conditions] if rollback else []
    facts.assumptions.append(
        f"plan allows rollback in {rollback.time_to_rollback!r}; tightened to {ROLLBACK_SECONDS} s "
        f"(policy: at most {MAX_ROLLBACK_SECONDS} s)"
        if rollback and rollback.time_to_rollback
        else f"rollback time set to {ROLLBACK_SECONDS} s (policy: at most {MAX_ROLLBACK_SECONDS} s)"
    )
    facts.assumptions.append("resources not declared; conservative defaults 100m CPU / 128Mi memory, 2-10 replicas")
    facts.assumptions.append("service assumed to export Prometheus HTTP metrics (http_requests_total, http_request_duration_seconds)")
    return {
        "deployment_strategy": {
            "type": kind,
            "reason": reason,
            "stages": [
                {
                    "stage": "dev",
                    "automatic": True,
                    "tests": ["smoke", *(["integration"] if integration else [])],
                    "rollback_automatic": True,
                },
                {
                    "stage": "staging",
                    "automatic": True,
                    "tests": ["smoke", "integration", *(["performance"] if load_asked else [])],
                    "rollback_automatic": True,
                    "soak_time_hours": 2,
                },
                production,
            ],
        },
        "infrastructure": {
            "resources_required": {"cpu": "100m", "memory": "128Mi", "replicas": 2},
            "scaling": {"min_replicas": 2, "max_replicas": 10, "target_cpu": 70},
        },
        "monitoring": monitoring(facts),
        "health_checks": {
            "readiness": {
                "endpoint": facts.readiness,
                "interval_seconds": 10,
                "timeout_seconds": 5,
                "success_threshold": 1,
                "failure_threshold": 3,
            },
            "liveness": {
                "endpoint": facts.liveness,
                "interval_seconds": 30,
                "timeout_seconds": 5,
                "success_threshold": 1,
                "failure_threshold": 3,
            },
        },
        "rollback": {
            "triggers": _dedupe(
                [
                    *triggers,
                    "Error rate > 1% for 5m",
                    "Latency p99 > 500ms for 5m",
                    "Health check failures > 10%",
                    "Manual trigger",
                ]
            ),
            "procedure": [
                "1. Alert or failed smoke test detects the regression",
                "2. Automatic rollback starts (kubectl rollout undo)",
                "3. Traffic returns to the previous version",
                "4. Verify health of the previous version via the readiness endpoint",
                "5. Notify the team and open an incident",
            ],
            "time_to_rollback_seconds": ROLLBACK_SECONDS,
        },
        "assumptions": facts.assumptions,
    }


def _dedupe(items: list[str]) -> list[str]:
    return list({i.lower(): i for i in reversed(items)}.values())[::-1]
