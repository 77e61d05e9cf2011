"""What the Argo Rollouts controller refuses although its CRD schema allows it (read from its validation code)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from agent.validation.violations import Violation, as_list, dig, rule

_GO_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+")
_STEP_KINDS = ("setWeight", "pause", "analysis", "experiment", "setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin")
RULE = "manifests.argo_controller"


@rule(
    RULE,
    "k8s/, prometheus/",
    "a Rollout and AnalysisTemplate pass the Argo Rollouts controller's own checks (one strategy, distinct Services, weights 0–100, "
    "Go durations, a referenced AnalysisTemplate beside the Rollout, unique metrics, count ≥ failureLimit)",
)
def rollout(artifact: str, doc: dict[str, Any], templates: set[str]) -> Iterator[Violation]:
    """``templates``: the AnalysisTemplates defined in the Rollout's folder."""
    strategy = dig(doc, "spec", "strategy") or {}
    if isinstance(strategy, dict) and len({"canary", "blueGreen"} & set(strategy)) != 1:
        yield Violation(artifact, "$.spec.strategy", RULE, "set exactly one of canary and blueGreen")
    green = dig(strategy, "blueGreen")
    if isinstance(green, dict) and green.get("previewService") and green.get("previewService") == green.get("activeService"):
        yield Violation(artifact, "$.spec.strategy.blueGreen.previewService", RULE, "the preview Service must differ from the active one")
    canary = dig(strategy, "canary")
    if isinstance(canary, dict) and canary.get("maxSurge") in (0, "0", "0%") and canary.get("maxUnavailable") in (0, "0", "0%"):
        yield Violation(artifact, "$.spec.strategy.canary", RULE, "maxSurge and maxUnavailable cannot both be 0")
    for i, step in enumerate(as_list(dig(canary, "steps"))):
        yield from _step(artifact, f"$.spec.strategy.canary.steps[{i}]", step)
    for path, analysis in _analyses(strategy):
        for j, ref in enumerate(as_list(dig(analysis, "templates"))):
            name = dig(ref, "templateName")
            if isinstance(name, str) and not dig(ref, "clusterScope") and name not in templates:
                folder = PurePosixPath(artifact.split(" ")[0]).parent
                yield Violation(artifact, f"{path}.templates[{j}]", RULE, f"AnalysisTemplate {name!r} is not defined in {folder}/")


def _step(artifact: str, path: str, step: Any) -> Iterator[Violation]:
    kinds = [k for k in _STEP_KINDS if isinstance(step, dict) and k in step]
    if len(kinds) != 1:
        yield Violation(artifact, path, RULE, f"a step does exactly one thing; this one has {kinds or 'nothing'}")
    weight = dig(step, "setWeight")
    if weight is not None and not (isinstance(weight, int) and 0 <= weight <= 100):
        yield Violation(artifact, f"{path}.setWeight", RULE, f"setWeight {weight!r} is not a percentage 0–100")
    pause = dig(step, "pause", "duration")
    if isinstance(pause, str) and not (pause.isdigit() or _GO_DURATION.fullmatch(pause)):
        yield Violation(artifact, f"{path}.pause.duration", RULE, f"{pause!r} is not a Go duration (1h, 30m, 90s)")


def _analyses(strategy: Any) -> Iterator[tuple[str, Any]]:
    yield "$.spec.strategy.canary.analysis", dig(strategy, "canary", "analysis")
    for i, step in enumerate(as_list(dig(strategy, "canary", "steps"))):
        yield f"$.spec.strategy.canary.steps[{i}].analysis", dig(step, "analysis")
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        yield f"$.spec.strategy.blueGreen.{key}", dig(strategy, "blueGreen", key)


def analysis_template(artifact: str, doc: dict[str, Any]) -> Iterator[Violation]:
    metrics = as_list(dig(doc, "spec", "metrics"))
    if not metrics:
        yield Violation(artifact, "$.spec.metrics", RULE, "an AnalysisTemplate needs at least one metric")
    names = [dig(m, "name") for m in metrics]
    for i, metric in enumerate(metrics):
        path = f"$.spec.metrics[{i}]"
        if names.count(names[i]) > 1 and names.index(names[i]) != i:
            yield Violation(artifact, f"{path}.name", RULE, f"metric name {names[i]!r} is used twice")
        count, limit = dig(metric, "count"), dig(metric, "failureLimit")
        if isinstance(count, int) and count > 0 and isinstance(limit, int) and limit > count:
            yield Violation(artifact, f"{path}.failureLimit", RULE, f"failureLimit {limit} exceeds count {count}")
        if isinstance(count, int) and count > 1 and not dig(metric, "interval"):
            yield Violation(artifact, f"{path}.interval", RULE, "a metric measured more than once needs an interval")
        for key in ("interval", "initialDelay"):
            value = dig(metric, key)
            if isinstance(value, str) and not _GO_DURATION.fullmatch(value):
                yield Violation(artifact, f"{path}.{key}", RULE, f"{value!r} is not a Go duration (1m, 30s)")
