"""Policy for deployment.json: the limits its schema states (declared here by rule id) and the rules a schema cannot say."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.validation import promql, schemas, tools
from agent.validation.violations import Violation, as_list, declare, dig, rule

A = "deployment.json"
STAGE_ORDER = ("dev", "staging", "production")
_SCHEMA = schemas.load_file("deployment.schema.json")  # the checker's copy: read once


def _maximum(*path: str) -> int:
    """A limit of the schema, which states it once: the rule summaries below (README, system prompt) quote it."""
    node = _SCHEMA
    for key in path:
        node = node[key]
    maximum: int = node["maximum"]
    return maximum


_INFRA = ("properties", "infrastructure", "properties")
_STAGE, _PROBE = ("$defs", "stage", "properties"), ("$defs", "probe", "properties")
MAX_ROLLBACK_SECONDS = _maximum("properties", "rollback", "properties", "time_to_rollback_seconds")
"""Read from the schema, which states the limit once (planner and README quote it)."""
MAX_REPLICAS = _maximum(*_INFRA, "resources_required", "properties", "replicas")
"""Kubernetes' documented ceiling for a whole cluster (150,000 pods): no service needs more replicas than that."""
MAX_SOAK_HOURS = _maximum(*_STAGE, "soak_time_hours")
MAX_CANARY_HOURS = _maximum(*_STAGE, "canary_duration_hours")
MAX_INTERVAL, MAX_TIMEOUT = _maximum(*_PROBE, "interval_seconds"), _maximum(*_PROBE, "timeout_seconds")
MAX_THRESHOLD = _maximum(*_PROBE, "failure_threshold")

# Limits stated in schemas/deployment.schema.json beside an "x-rule" annotation: the schema check reports
# them under these ids (tests/test_deployment_rules.py keeps this table and the schema's annotations equal).
SCHEMA_RULES = {
    "deployment.staging_tests": "the staging stage runs at least one test",
    "deployment.production_gated": "production is gated by people: `automatic: false` and a non-empty `approval_required`",
    "deployment.production_rollback": "production rolls back automatically (`rollback_automatic: true`)",
    "deployment.canary_settings": (
        "a canary plan sets production `canary_percentage` (1–50) and a positive `canary_duration_hours`, at most "
        f"{MAX_CANARY_HOURS} h (the deploy job waits for the canary; a GitHub-hosted job stops after 6 h)"
    ),
    "deployment.soak_time": f"`soak_time_hours` is 0–{MAX_SOAK_HOURS} (a week at most: a longer soak is not a soak)",
    "deployment.probe_endpoint": "probe endpoints and `metrics_path` are concrete paths: a leading `/`, no templated segment (`{id}`)",
    "deployment.probe_thresholds": f"probe thresholds are 1–{MAX_THRESHOLD}; liveness `success_threshold` is 1 (Kubernetes requires it)",
    "deployment.rollback_steps": "rollback `triggers` and `procedure` are non-empty",
    "deployment.rollback_time": f"`time_to_rollback_seconds` is positive and ≤ {MAX_ROLLBACK_SECONDS} (under a minute to safety)",
    "deployment.monitoring_present": "at least one metric and at least one alert",
    "deployment.critical_alert": "at least one alert has severity `critical`",
    "deployment.cpu_quantity": "CPU is a positive Kubernetes quantity (`100m`, `0.5`, `2`)",
    "deployment.memory_quantity": "memory is a positive Kubernetes quantity (`128Mi`, `1Gi`), never in `m`",
    "deployment.replicas": (
        f"`2 ≤ replicas ≤ {MAX_REPLICAS:,}` (one replica is one failure from an outage; {MAX_REPLICAS:,} pods fill the largest "
        "cluster Kubernetes supports)"
    ),
    "deployment.target_cpu": "`target_cpu` is a percentage in 1–100",
    "deployment.kubernetes_names": "`namespace` is a DNS-1123 label (≤ 63 of `a-z`, `0-9`, `-`)",
    "deployment.namespace_reserved": (
        "`namespace` is not `kube-*`: kube-system, kube-public and kube-node-lease belong to the cluster (its control plane, "
        "public cluster data, node heartbeats) and Kubernetes reserves the prefix; deploy into the app's own namespace "
        "(leave `namespace` out for the app's name)"
    ),
    "deployment.image": (
        "`image` is what the workflow builds and pushes, `ghcr.io/<owner>/<repo>` (the GitHub repository, lowercase), or the "
        "app's name, without tag or digest: `kubectl apply -k` runs the image the kustomization names, so no other registry "
        "or repository"
    ),
    "deployment.ports": "`container_port` and `metrics_port` are ports (1–65535)",
    "deployment.alert_for": "an alert's `for` is a positive Prometheus duration (`5m`): one failed scrape never pages",
    "deployment.alert_labels": "alert label and annotation names are Prometheus label names (`[a-zA-Z_][a-zA-Z0-9_]*`)",
}
for _id, _summary in SCHEMA_RULES.items():
    declare(_id, A, _summary)


def _v(path: str, rule_id: str, message: str) -> Violation:
    return Violation(A, path, rule_id, message)


def _stages(doc: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, s) for i, s in enumerate(as_list(dig(doc, "deployment_strategy", "stages"))) if isinstance(s, dict)]


@rule("deployment.stage_order", A, "stages run dev → staging → production, each once; staging and production present")
def stage_order(doc: Any) -> Iterator[Violation]:
    # The schema requires staging and production; their order is what it cannot say.
    known = [n for n in (s.get("stage") for _, s in _stages(doc)) if n in STAGE_ORDER]
    if known != sorted(set(known), key=STAGE_ORDER.index):
        yield _v(
            "$.deployment_strategy.stages",
            "deployment.stage_order",
            f"stages are {known}; they must run once each, in the order dev, staging, production",
        )


@rule(
    "deployment.probe_timing",
    A,
    f"each probe's `interval_seconds` (≤ {MAX_INTERVAL}) and `timeout_seconds` (≤ {MAX_TIMEOUT}) are positive, and the timeout is "
    "below the interval",
)
def probe_timing(doc: Any) -> Iterator[Violation]:
    for probe in ("readiness", "liveness"):
        timeout = dig(doc, "health_checks", probe, "timeout_seconds")
        interval = dig(doc, "health_checks", probe, "interval_seconds")
        # A timeout over its maximum is reported by the schema, at this place and under this rule: once is enough.
        if _number(timeout) and _number(interval) and 0 < interval <= timeout <= MAX_TIMEOUT:
            yield _v(
                f"$.health_checks.{probe}.timeout_seconds",
                "deployment.probe_timing",
                f"timeout_seconds ({timeout}) must be less than interval_seconds ({interval})",
            )


@rule("deployment.scaling_bounds", A, f"`1 ≤ min_replicas ≤ max_replicas ≤ {MAX_REPLICAS:,}`")
def scaling_bounds(doc: Any) -> Iterator[Violation]:
    low = dig(doc, "infrastructure", "scaling", "min_replicas")
    high = dig(doc, "infrastructure", "scaling", "max_replicas")
    if _number(low) and _number(high) and high < low:
        yield _v(
            "$.infrastructure.scaling.max_replicas",
            "deployment.scaling_bounds",
            f"max_replicas ({high}) is below min_replicas ({low})",
        )


def _alerts(doc: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, a) for i, a in enumerate(as_list(dig(doc, "monitoring", "alerts"))) if isinstance(a, dict)]


@rule(
    "deployment.alert_names",
    A,
    "alert names are identifiers (`[A-Za-z][A-Za-z0-9_]*`: the runbook's section titles, the rules' `alertname`) and unique",
)
def alert_names(doc: Any) -> Iterator[Violation]:
    seen: set[str] = set()
    for i, alert in _alerts(doc):
        name = alert.get("name")
        if isinstance(name, str) and name.lower() in seen:
            yield _v(f"$.monitoring.alerts[{i}].name", "deployment.alert_names", f"alert {name!r} is defined twice")
        seen.add(name.lower() if isinstance(name, str) else "")


@rule("deployment.promql", A, "every alert condition is valid PromQL giving an instant vector (checked with promql-parser)")
def alert_promql(doc: Any) -> Iterator[Violation]:
    conditions = [(i, a["condition"]) for i, a in _alerts(doc) if isinstance(a.get("condition"), str)]
    if conditions and not promql.available():
        yield tools.skipped(A, promql.TOOL, "PromQL syntax of the alert conditions", promql.INSTALL)
        return
    for i, condition in conditions:
        problem = promql.problem(condition)
        if problem:
            yield _v(f"$.monitoring.alerts[{i}].condition", "deployment.promql", f"{condition!r} {problem}")


CHECKS = (stage_order, probe_timing, scaling_bounds, alert_names, alert_promql)


def check(doc: Any) -> list[Violation]:
    return [v for c in CHECKS for v in c(doc)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
