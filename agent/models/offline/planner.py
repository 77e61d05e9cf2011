"""The offline planner: derive a safe deployment plan from the inputs alone, or veto.

Every value is either a fact from the workspace or a conservative default that is
named in the plan's ``assumptions``; when a fact a safe plan needs cannot be found
(no health endpoint, no rollback plan), it vetoes as the seed prescribes.
"""

from __future__ import annotations

from typing import Any

from agent import facts as facts_
from agent.artifacts import Approve, Decision, Veto
from agent.facts import Facts
from agent.inputs import Inputs
from agent.models.offline import sections, thresholds
from agent.models.offline.sections import CANARY
from agent.models.offline.thresholds import Threshold
from agent.names import dns_label, is_epic_id
from agent.rendering import alerts, runbook, toolchain, workflow
from agent.rendering.rollouts import PROMETHEUS
from agent.upstream import Plan, shown
from agent.validation.deployment import MAX_ROLLBACK_SECONDS

ROLLBACK_SECONDS = 30
DEFAULT_ERROR_RATE = Threshold(0.01)
DEFAULT_LATENCY = Threshold(0.5, quantile="0.99")


def plan(inputs: Inputs) -> Decision:
    facts_or_veto = gather(inputs)
    if isinstance(facts_or_veto, Veto):
        return facts_or_veto
    facts = facts_or_veto
    deployment = build_deployment(inputs, facts)
    return Approve(
        deployment=deployment,
        cicd=workflow.render(facts, deployment),
        runbook=runbook.render(facts, deployment),
        reason=f"offline planner: {deployment['deployment_strategy']['type']} deployment of {facts.app}",
    )


def unverifiable_conditions(inputs: Inputs) -> Veto | None:
    """The offline backend's veto of an approval with conditions: text only a reader can weigh, which this planner
    cannot (as a draft for the model it plans anyway: the model gets the conditions as findings and weighs them)."""
    approval = inputs.review.approval_block
    if approval and approval.conditions:
        return _veto(
            "not_production_ready",
            "Quality approved with conditions the offline planner cannot verify",
            f"approval.conditions: {shown(approval.conditions, 600)}",
            "artifacts/review.json: approval.conditions",
            "Deploying could break a condition quality set for this release",
            "An unconditional approval, or a reviewer that weighs the conditions (the Claude backend)",
            "Meet the conditions and approve without them, or run the stage with --backend anthropic",
            "review_approval_conditions",
        )
    return None


def gather(inputs: Inputs) -> Facts | Veto:
    impl, assumptions = inputs.implementation, list[str]()
    declared = impl.declared_endpoints()
    files = facts_.file_facts(impl.files)
    if files.ignored:
        assumptions.append(f"{files.ignored} file path(s) in implementation.json are not plain relative paths; ignored")
    probes = _probes(declared, files, inputs.plan, assumptions)
    if probes is None:
        return _veto(
            "missing_health_checks",
            "No health check endpoint defined",
            f"declared endpoints: {', '.join(declared) or 'none'}; no file or planned test names a health endpoint",
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
            "plan.json has no rollback_plan" if rollback is None else "plan.json rollback_plan.procedure is empty",
            "artifacts/plan.json: rollback_plan",
            "A failed release could not be reversed quickly",
            "A rollback plan with trigger conditions and a procedure",
            "Add rollback_plan (trigger_conditions, procedure, time_to_rollback) to plan.json",
            "add_rollback_plan",
        )
    return describe(inputs, probes, [str(step) for step in rollback.procedure], assumptions)


def facts_for_plan(inputs: Inputs, deployment: dict[str, Any]) -> Facts:
    """The service facts for rendering a plan someone else wrote (the model): probes come from the plan itself."""
    checks = deployment.get("health_checks")
    found = checks if isinstance(checks, dict) else {}
    probes = tuple(str((found.get(kind) or {}).get("endpoint") or "/health") for kind in ("readiness", "liveness"))
    rollback = inputs.plan.rollback_plan
    steps = [str(step) for step in rollback.procedure] if rollback else []
    return describe(inputs, (probes[0], probes[1]), steps, [])


def describe(inputs: Inputs, probes: tuple[str, str], rollback_steps: list[str], assumptions: list[str]) -> Facts:
    """Everything about the service but the decision: names, language, CI gates, paths."""
    impl, declared = inputs.implementation, inputs.implementation.declared_endpoints()
    files = facts_.file_facts(impl.files)
    service, app = facts_.service_name(impl.service.name if impl.service else None, files, inputs.epic_id, assumptions)
    language, version, version_file = facts_.language(impl, inputs.plan, files, assumptions)
    facts = Facts(
        service=service,
        app=app,
        title=inputs.title or service,
        readiness=probes[0],
        liveness=probes[1],
        endpoints=declared or sorted(set(probes)),
        dependencies=[str(d) for d in impl.service.dependencies] if impl.service else [],
        source_dir=files.source_dir,
        python=language == "python",
        assumptions=assumptions,
        language=language,
        language_version=version,
        version_file=version_file,
        ci_gates=facts_.ci_gates(inputs.plan),
        artifacts_dir=facts_.artifacts_dir(inputs.workspace),
        port=facts_.declared_port(impl),
        metrics_path=facts_.declared_metrics_path(impl),
        epic=inputs.epic_id if is_epic_id(inputs.epic_id) else dns_label(inputs.epic_id, "epic"),
        iteration=inputs.iteration,
        rollback_steps=rollback_steps,
    )
    assumptions += [f"CI gate {g} has no command in the rendered workflow; add it to the test job" for g in toolchain.unmapped_gates(facts)]
    return facts


def _probes(declared: list[str], files: facts_.FileFacts, plan_: Plan, assumptions: list[str]) -> tuple[str, str] | None:
    if declared:
        return facts_.choose_probes(declared)
    evidence = [files.health_file] if files.health_file else []
    evidence += [c for c in plan_.test_cases() if "health" in c.lower()]
    if not evidence:
        return None
    assumptions.append(f"no endpoints declared; /health inferred from {evidence[0]!r}")
    return "/health", "/health"


def _veto(subject: str, violation: str, specifics: str, location: str, impact: str, requirement: str, suggestion: str, action: str) -> Veto:
    """The seed's veto content (violation, specifics, impact, requirement, blocking) plus where and what to do."""
    return Veto(
        subject=subject,
        content={
            "violation": violation,
            "specifics": specifics,
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
    """``refund-service`` → ``RefundService``: an alert-name prefix ([A-Za-z][A-Za-z0-9_]*)."""
    name = "".join(part.capitalize() for part in app.split("-") if part)
    return name if name[:1].isalpha() else f"Service{name}"


def monitoring(facts: Facts, plan_: Plan) -> dict[str, Any]:
    """HTTP metrics and alerts; thresholds the plan states win over the defaults, and each choice is named."""
    job, name = facts.app, _camel(facts.app)
    errors_at = _named(thresholds.error_rate(plan_), DEFAULT_ERROR_RATE, "error-rate", facts)
    slow_at = _named(thresholds.latency(plan_), DEFAULT_LATENCY, "latency", facts)
    rate = f'sum(rate(http_requests_total{{job="{job}"}}[5m]))'
    errors = f'sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[5m]))'
    buckets = f'sum by (le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m]))'
    quantile = f"histogram_quantile({slow_at.quantile}, {buckets})"
    p_name, percent, millis = f"p{slow_at.quantile[2:]}", _number(errors_at.value * 100), _number(slow_at.value * 1000)
    return {
        "metrics": [
            {
                "name": "http_request_duration_seconds",
                "type": "histogram",
                "unit": "seconds",
                "alert_threshold": f"{p_name} > {millis}ms for 10m",
            },
            {"name": "http_requests_total", "type": "counter", "unit": "requests", "alert_threshold": f"5xx ratio > {percent}% for 5m"},
            {"name": "up", "type": "gauge", "alert_threshold": "== 0, or absent, for 2m"},
        ],
        "dashboards": [{"name": f"{facts.service} Performance", "panels": ["latency_p99", "error_rate", "request_rate", "pod_restarts"]}],
        "alerts": [
            {
                "name": f"{name}Down",
                "condition": alerts.availability(job),
                "severity": "critical",
                "action": "page_on_call",
                "for": "2m",
            },
            {
                "name": f"{name}HighErrorRate",
                "condition": f"{errors} / {rate} > {_number(errors_at.value)}",
                "severity": "critical",
                "action": "page_on_call",
                "for": "5m",
            },
            {
                "name": f"{name}HighLatency",
                "condition": f"{quantile} > {_number(slow_at.value)}",
                "severity": "warning",
                "action": "notify_team_channel",
                "for": "10m",
            },
        ],
    }


def _named(found: Threshold | None, default: Threshold, what: str, facts: Facts) -> Threshold:
    if found is None:
        facts.assumptions.append(f"no {what} threshold in plan.json; the {what} alert uses the default")
        return default
    facts.assumptions.append(f"{what} alert threshold read from plan.json ({found.source!r}), measured on the service's HTTP metrics")
    return found


def _number(value: float) -> str:
    """A PromQL/display number without float noise: 0.005, 0.5, 300."""
    return f"{round(value, 6):g}"


def strategy(plan_: Plan) -> tuple[str, str]:
    impacts = {r.impact for r in plan_.risks} | {r.likelihood for r in plan_.risks if r.impact in {"high", "critical"}}
    if impacts & {"high", "critical"}:
        return (
            "canary",
            f"A high-impact risk in the plan: expose {CANARY['canary_percentage']}% of traffic first; a failing metric aborts it",
        )
    if "medium" in impacts:
        return (
            "blue_green",
            "Medium-impact risks in the plan: keep the previous version running for an instant switch back, promote by hand",
        )
    return (
        "rolling",
        "Low-risk change: a rolling update with readiness gating keeps capacity without a second environment",
    )


def build_deployment(inputs: Inputs, facts: Facts) -> dict[str, Any]:
    kind, reason = strategy(inputs.plan)
    rollback = inputs.plan.rollback_plan
    triggers = [str(t) for t in rollback.trigger_conditions] if rollback else []
    facts.assumptions.append(
        f"plan allows rollback in {rollback.time_to_rollback!r}; tightened to {ROLLBACK_SECONDS} s "
        f"(policy: at most {MAX_ROLLBACK_SECONDS} s)"
        if rollback and rollback.time_to_rollback
        else f"rollback time set to {ROLLBACK_SECONDS} s (policy: at most {MAX_ROLLBACK_SECONDS} s)"
    )
    infrastructure = sections.infrastructure(facts)
    signals = monitoring(facts, inputs.plan)
    alerting = [f"Alert {a['name']} fires (critical)" for a in signals["alerts"] if a["severity"] == "critical"]
    facts.assumptions.append("service assumed to export Prometheus HTTP metrics (http_requests_total, http_request_duration_seconds)")
    if kind != "rolling":
        facts.assumptions.append(
            f"the Argo Rollouts analysis queries Prometheus at {PROMETHEUS} (the Prometheus Operator's Service in namespace monitoring)"
        )
    steps = ["Detect: a failing analysis, an alert or a failed smoke test (the triggers above)", *sections.engine_steps(kind, facts.app)]
    steps += ["Verify the previous version through the readiness endpoint", *sections.plan_steps(rollback.procedure if rollback else [])]
    steps.append("Notify the team and open an incident")
    return {
        "deployment_strategy": {"type": kind, "reason": reason, "stages": sections.stages(inputs, kind)},
        "infrastructure": infrastructure,
        "monitoring": signals,
        "health_checks": sections.health_checks(facts),
        "rollback": {
            "triggers": _dedupe([*triggers, *alerting, "A failed analysis or smoke test", "Manual trigger"]),
            "procedure": [f"{n}. {step}" for n, step in enumerate(steps, start=1)],
            "time_to_rollback_seconds": ROLLBACK_SECONDS,
        },
        "assumptions": facts.assumptions,
    }


def _dedupe(items: list[str]) -> list[str]:
    return list({i.lower(): i for i in reversed(items)}.values())[::-1]
