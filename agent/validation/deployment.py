"""Policy rules for deployment.json beyond its schema: stages, probes, rollback, monitoring, resources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from agent.validation.violations import Violation, as_list, dig, rule

A = "deployment.json"
STAGE_ORDER = ("dev", "staging", "production")
MAX_ROLLBACK_SECONDS = 60

_CPU = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)m?$")
_MEMORY = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)(?:[KMGTPE]i|[kMGTPE]|[eE]\d+)?$")


def _v(path: str, rule_id: str, message: str) -> Violation:
    return Violation(A, path, rule_id, message)


def _stages(doc: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, s) for i, s in enumerate(as_list(dig(doc, "deployment_strategy", "stages"))) if isinstance(s, dict)]


def _stage(doc: Any, name: str) -> tuple[int, dict[str, Any]] | None:
    return next(((i, s) for i, s in _stages(doc) if s.get("stage") == name), None)


@rule("deployment.stage_order", A, "stages run dev → staging → production, each once; staging and production present")
def stage_order(doc: Any) -> Iterator[Violation]:
    names = [s.get("stage") for _, s in _stages(doc)]
    path = "$.deployment_strategy.stages"
    for required in ("staging", "production"):
        if required not in names:
            yield _v(
                path,
                "deployment.stage_order",
                f"no {required} stage: every change is validated in staging before production",
            )
    known = [n for n in names if n in STAGE_ORDER]
    if known != sorted(set(known), key=STAGE_ORDER.index):
        yield _v(
            path,
            "deployment.stage_order",
            f"stages are {known}; they must run once each, in the order dev, staging, production",
        )


@rule("deployment.staging_tests", A, "the staging stage runs at least one test")
def staging_tests(doc: Any) -> Iterator[Violation]:
    found = _stage(doc, "staging")
    if found and not as_list(found[1].get("tests")):
        yield _v(
            f"$.deployment_strategy.stages[{found[0]}].tests",
            "deployment.staging_tests",
            "staging runs no tests: add at least smoke tests",
        )


@rule(
    "deployment.production_gated",
    A,
    "production is gated by people: `automatic: false` and a non-empty `approval_required`",
)
def production_gated(doc: Any) -> Iterator[Violation]:
    found = _stage(doc, "production")
    if not found:
        return
    i, stage = found
    if stage.get("automatic") is not False:
        yield _v(
            f"$.deployment_strategy.stages[{i}].automatic",
            "deployment.production_gated",
            "production must not deploy automatically: set automatic to false",
        )
    approver = stage.get("approval_required")
    if not isinstance(approver, str) or not approver.strip():
        yield _v(
            f"$.deployment_strategy.stages[{i}].approval_required",
            "deployment.production_gated",
            "production needs a named approver (e.g. tech_lead)",
        )


@rule(
    "deployment.canary_settings",
    A,
    "a canary strategy sets production `canary_percentage` in 1–50 and a positive `canary_duration_hours`",
)
def canary_settings(doc: Any) -> Iterator[Violation]:
    found = _stage(doc, "production")
    if dig(doc, "deployment_strategy", "type") != "canary" or not found:
        return
    i, stage = found
    pct: Any = stage.get("canary_percentage")
    hours: Any = stage.get("canary_duration_hours")
    if not _number(pct) or not 1 <= pct <= 50:
        yield _v(
            f"$.deployment_strategy.stages[{i}].canary_percentage",
            "deployment.canary_settings",
            f"canary_percentage is {pct!r}; it must be a number from 1 to 50",
        )
    if not _number(hours) or hours <= 0:
        yield _v(
            f"$.deployment_strategy.stages[{i}].canary_duration_hours",
            "deployment.canary_settings",
            f"canary_duration_hours is {hours!r}; it must be positive",
        )


@rule("deployment.production_rollback", A, "production rolls back automatically (`rollback_automatic: true`)")
def production_rollback(doc: Any) -> Iterator[Violation]:
    found = _stage(doc, "production")
    if found and found[1].get("rollback_automatic") is not True:
        yield _v(
            f"$.deployment_strategy.stages[{found[0]}].rollback_automatic",
            "deployment.production_rollback",
            "production must roll back automatically",
        )


@rule("deployment.probe_endpoint", A, "readiness and liveness endpoints are paths starting with `/`")
def probe_endpoint(doc: Any) -> Iterator[Violation]:
    for probe in ("readiness", "liveness"):
        endpoint = dig(doc, "health_checks", probe, "endpoint")
        if isinstance(endpoint, str) and not endpoint.startswith("/"):
            yield _v(
                f"$.health_checks.{probe}.endpoint",
                "deployment.probe_endpoint",
                f"endpoint {endpoint!r} must be a path starting with '/'",
            )


@rule("deployment.probe_timing", A, "each probe's `timeout_seconds` is positive and below its `interval_seconds`")
def probe_timing(doc: Any) -> Iterator[Violation]:
    for probe in ("readiness", "liveness"):
        timeout = dig(doc, "health_checks", probe, "timeout_seconds")
        interval = dig(doc, "health_checks", probe, "interval_seconds")
        if _number(timeout) and _number(interval) and not 0 < timeout < interval:
            yield _v(
                f"$.health_checks.{probe}.timeout_seconds",
                "deployment.probe_timing",
                f"timeout_seconds ({timeout}) must be positive and less than interval_seconds ({interval})",
            )


@rule(
    "deployment.probe_thresholds",
    A,
    "probe thresholds are ≥ 1; liveness `success_threshold` is 1 (Kubernetes requires it)",
)
def probe_thresholds(doc: Any) -> Iterator[Violation]:
    for probe in ("readiness", "liveness"):
        for key in ("success_threshold", "failure_threshold"):
            value = dig(doc, "health_checks", probe, key)
            if isinstance(value, int) and value < 1:
                yield _v(
                    f"$.health_checks.{probe}.{key}",
                    "deployment.probe_thresholds",
                    f"{key} is {value}; it must be at least 1",
                )
    success = dig(doc, "health_checks", "liveness", "success_threshold")
    if isinstance(success, int) and success > 1:
        yield _v(
            "$.health_checks.liveness.success_threshold",
            "deployment.probe_thresholds",
            f"liveness success_threshold is {success}; Kubernetes accepts only 1",
        )


@rule("deployment.rollback_steps", A, "rollback `triggers` and `procedure` are non-empty")
def rollback_steps(doc: Any) -> Iterator[Violation]:
    for key in ("triggers", "procedure"):
        value = dig(doc, "rollback", key)
        if isinstance(value, list) and not value:
            yield _v(f"$.rollback.{key}", "deployment.rollback_steps", f"rollback {key} is empty")


@rule(
    "deployment.rollback_time",
    A,
    f"`time_to_rollback_seconds` is positive and ≤ {MAX_ROLLBACK_SECONDS} (under a minute to safety)",
)
def rollback_time(doc: Any) -> Iterator[Violation]:
    seconds = dig(doc, "rollback", "time_to_rollback_seconds")
    if _number(seconds) and not 0 < seconds <= MAX_ROLLBACK_SECONDS:
        yield _v(
            "$.rollback.time_to_rollback_seconds",
            "deployment.rollback_time",
            f"time_to_rollback_seconds is {seconds}; it must be within 1–{MAX_ROLLBACK_SECONDS}",
        )


@rule("deployment.monitoring_present", A, "at least one metric and at least one alert")
def monitoring_present(doc: Any) -> Iterator[Violation]:
    for key in ("metrics", "alerts"):
        value = dig(doc, "monitoring", key)
        if isinstance(value, list) and not value:
            yield _v(f"$.monitoring.{key}", "deployment.monitoring_present", f"no {key} defined")


@rule("deployment.critical_alert", A, "at least one alert has severity `critical`")
def critical_alert(doc: Any) -> Iterator[Violation]:
    alerts = [a for a in as_list(dig(doc, "monitoring", "alerts")) if isinstance(a, dict)]
    if alerts and not any(a.get("severity") == "critical" for a in alerts):
        yield _v(
            "$.monitoring.alerts",
            "deployment.critical_alert",
            "no critical alert: something must page when the service is down",
        )


@rule("deployment.cpu_quantity", A, "CPU is a positive Kubernetes quantity (`100m`, `0.5`, `2`)")
def cpu_quantity(doc: Any) -> Iterator[Violation]:
    cpu = dig(doc, "infrastructure", "resources_required", "cpu")
    if isinstance(cpu, str) and (not _CPU.match(cpu) or _magnitude(cpu) == 0):
        yield _v(
            "$.infrastructure.resources_required.cpu",
            "deployment.cpu_quantity",
            f"cpu {cpu!r} is not a positive Kubernetes CPU quantity (e.g. 100m, 0.5)",
        )


@rule("deployment.memory_quantity", A, "memory is a positive Kubernetes quantity (`128Mi`, `1Gi`), never in `m`")
def memory_quantity(doc: Any) -> Iterator[Violation]:
    memory = dig(doc, "infrastructure", "resources_required", "memory")
    if not isinstance(memory, str):
        return
    path = "$.infrastructure.resources_required.memory"
    if memory.endswith("m"):
        yield _v(
            path,
            "deployment.memory_quantity",
            f"memory {memory!r} is in millibytes; you almost certainly mean {memory[:-1]}Mi",
        )
    elif not _MEMORY.match(memory) or _magnitude(memory) == 0:
        yield _v(
            path,
            "deployment.memory_quantity",
            f"memory {memory!r} is not a positive Kubernetes quantity (e.g. 128Mi, 1Gi)",
        )


@rule("deployment.replicas", A, "`replicas` ≥ 2 (one replica is one failure from an outage)")
def replicas(doc: Any) -> Iterator[Violation]:
    count = dig(doc, "infrastructure", "resources_required", "replicas")
    if isinstance(count, int) and count < 2:
        yield _v(
            "$.infrastructure.resources_required.replicas",
            "deployment.replicas",
            f"replicas is {count}; run at least 2",
        )


@rule("deployment.scaling_bounds", A, "`1 ≤ min_replicas ≤ max_replicas`")
def scaling_bounds(doc: Any) -> Iterator[Violation]:
    low = dig(doc, "infrastructure", "scaling", "min_replicas")
    high = dig(doc, "infrastructure", "scaling", "max_replicas")
    if isinstance(low, int) and low < 1:
        yield _v(
            "$.infrastructure.scaling.min_replicas",
            "deployment.scaling_bounds",
            f"min_replicas is {low}; it must be at least 1",
        )
    if isinstance(low, int) and isinstance(high, int) and high < low:
        yield _v(
            "$.infrastructure.scaling.max_replicas",
            "deployment.scaling_bounds",
            f"max_replicas ({high}) is below min_replicas ({low})",
        )


@rule("deployment.target_cpu", A, "`target_cpu` is a percentage in 1–100")
def target_cpu(doc: Any) -> Iterator[Violation]:
    value = dig(doc, "infrastructure", "scaling", "target_cpu")
    if isinstance(value, int) and not 1 <= value <= 100:
        yield _v("$.infrastructure.scaling.target_cpu", "deployment.target_cpu", f"target_cpu is {value}; it must be 1–100")


CHECKS = (
    stage_order,
    staging_tests,
    production_gated,
    canary_settings,
    production_rollback,
    probe_endpoint,
    probe_timing,
    probe_thresholds,
    rollback_steps,
    rollback_time,
    monitoring_present,
    critical_alert,
    cpu_quantity,
    memory_quantity,
    replicas,
    scaling_bounds,
    target_cpu,
)


def check(doc: Any) -> list[Violation]:
    return [v for c in CHECKS for v in c(doc)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _magnitude(quantity: str) -> float:
    digits = re.match(r"^\d*\.?\d*", quantity)
    try:
        return float(digits.group(0)) if digits else 0.0
    except ValueError:
        return 0.0
