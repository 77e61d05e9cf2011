"""The workload per strategy: a Deployment (rolling), an Argo Rollouts Rollout (canary, blue/green) and its AnalysisTemplate."""

from __future__ import annotations

import math
from typing import Any

from agent.rendering import core
from agent.rendering.spec import Spec

ROLLOUTS_API = "argoproj.io/v1alpha1"
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
"""The Prometheus Operator's default Service for a Prometheus in namespace `monitoring`; the analysis queries it."""
STEP_UP = 50
STEP_UP_PAUSE = "10m"
TRIAL_PAUSE = "5m"
"""A canary's first pause where the stage states no canary duration (dev and staging): long enough for the analysis."""
INTERVAL = "1m"
FAILURE_LIMIT = 1
"""The second failed measurement aborts: one noisy minute is tolerated, two are not."""
PREVIEW_CHECKS = 5
"""Blue/green: measurements (one a minute) before promotion and after it."""
SCALE_DOWN_DELAY = 600
"""Blue/green: the previous version keeps running 10 minutes after the switch, so switching back is instant."""
ROLLBACK_WINDOW = 2
"""An undo to one of the last two revisions skips the canary steps and the analysis: a rollback must not take a canary's hours."""


def workload(spec: Spec, env: str) -> dict[str, Any]:
    if spec.kind == "Deployment":
        return _deployment(spec)
    strategy = _canary(spec, env) if spec.strategy == "canary" else _blue_green(spec, env)
    return {
        "apiVersion": ROLLOUTS_API,
        "kind": "Rollout",
        "metadata": spec.metadata(spec.app),
        "spec": {
            "selector": {"matchLabels": dict(spec.selector)},
            "template": core.pod_template(spec),
            "progressDeadlineSeconds": 600,
            # New pods that never become ready abort the rollout too, back to the stable version.
            "progressDeadlineAbort": True,
            "rollbackWindow": {"revisions": ROLLBACK_WINDOW},
            "strategy": strategy,
        },
    }


def _deployment(spec: Spec) -> dict[str, Any]:
    # No spec.replicas: the autoscaler owns the count, and an apply must not reset it under load.
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": spec.metadata(spec.app),
        "spec": {
            "selector": {"matchLabels": dict(spec.selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "progressDeadlineSeconds": 600,
            "template": core.pod_template(spec),
        },
    }


def _canary(spec: Spec, env: str) -> dict[str, Any]:
    return {
        "canary": {
            "maxUnavailable": 0,
            "maxSurge": "25%",
            # Background analysis from the first pause on: a failing metric at any step aborts the rollout.
            "analysis": {"templates": [{"templateName": spec.analysis}], "startingStep": 1},
            "steps": canary_steps(spec, env),
        }
    }


def canary_steps(spec: Spec, env: str) -> list[dict[str, Any]]:
    percent, hours = canary_settings(spec, env)
    steps: list[dict[str, Any]] = [{"setWeight": percent}, {"pause": {"duration": duration(hours) if hours else TRIAL_PAUSE}}]
    if percent < STEP_UP:
        steps += [{"setWeight": STEP_UP}, {"pause": {"duration": STEP_UP_PAUSE}}]
    return steps


def canary_settings(spec: Spec, env: str) -> tuple[int, float | None]:
    """(first weight, hours of its pause): the stage's own, else production's weight and a short trial pause."""
    stage, production = spec.stage(env), spec.stage("production")
    percent = stage.get("canary_percentage", production.get("canary_percentage", 10))
    return max(1, math.ceil(percent)), stage.get("canary_duration_hours")


def duration(hours: float) -> str:
    """Hours as an Argo duration: ``1h``, ``90m``, ``45s``; never shorter than asked."""
    seconds = math.ceil(hours * 3600)
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _blue_green(spec: Spec, env: str) -> dict[str, Any]:
    analysis = {"templates": [{"templateName": spec.analysis}]}
    return {
        "blueGreen": {
            "activeService": spec.service,
            "previewService": spec.preview_service,
            # Production waits for a person (kubectl argo rollouts promote); dev and staging promote after the analysis.
            "autoPromotionEnabled": env != "production",
            "prePromotionAnalysis": analysis,
            "postPromotionAnalysis": analysis,
            "scaleDownDelaySeconds": SCALE_DOWN_DELAY,
        }
    }


def analysis_template(spec: Spec) -> dict[str, Any]:
    """One Prometheus metric per critical alert: the alert's own expression, failing while it returns a result."""
    alerts = [a for a in spec.alerts if a.get("severity") == "critical"] or spec.alerts
    metrics = [_metric(a["name"], a["condition"], finite=spec.strategy == "blue_green") for a in alerts]
    return {"apiVersion": ROLLOUTS_API, "kind": "AnalysisTemplate", "metadata": spec.metadata(spec.analysis), "spec": {"metrics": metrics}}


def _metric(name: str, condition: str, *, finite: bool) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": name,
        "interval": INTERVAL,
        # An alert expression returns series only while the alert condition holds: any result is a failure.
        "failureCondition": "len(result) > 0",
        "failureLimit": FAILURE_LIMIT,
        "provider": {"prometheus": {"address": PROMETHEUS, "query": condition}},
    }
    if finite:
        # Blue/green analysis gates a promotion, so it must end; a canary's background analysis runs to the last step.
        metric["count"] = PREVIEW_CHECKS
    return metric


def rollout_seconds(spec: Spec, env: str) -> int:
    """How long the engine takes at least in ``env``, pauses and analysis included (for the workflow's timeouts)."""
    if spec.strategy == "blue_green":
        return PREVIEW_CHECKS * 60 * 2
    if spec.strategy != "canary":
        return 0
    pauses = [step["pause"]["duration"] for step in canary_steps(spec, env) if "pause" in step]
    return sum(_seconds(p) for p in pauses)


def _seconds(text: str) -> int:
    unit = {"h": 3600, "m": 60, "s": 1}[text[-1]]
    return int(text[:-1]) * unit
