"""A Mermaid flowchart of the rollout, from the plan: stages, tests, soak, the approval, the strategy's steps, the rollback path.

Node ids are ours; every label is reduced to plain characters and quoted, so no text from the plan can add a node,
an edge or markup.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9 %.,:/()_+-]")
MAX_LABEL = 60


def label(value: Any) -> str:
    """Plain text for a quoted Mermaid label."""
    return " ".join(_UNSAFE.sub(" ", str(value)).split())[:MAX_LABEL].strip()


def section(deployment: dict[str, Any]) -> list[str]:
    return ["## Rollout at a Glance", "", "```mermaid", *flowchart(deployment), "```", ""]


def flowchart(deployment: dict[str, Any]) -> list[str]:
    strategy = deployment["deployment_strategy"]
    kind = str(strategy["type"])
    lines = ["flowchart LR", '  build["build and push the image"]']
    previous = "build"
    environments = []
    for stage in (s for s in strategy["stages"] if isinstance(s, dict)):
        env = str(stage.get("stage"))
        if env not in {"dev", "staging", "production"}:
            continue
        environments.append(env)
        if env == "production":
            lines += _production(stage, kind, previous)
            continue
        lines += [f'  {env}["{env}: deploy, {_tests(stage)}"]', f"  {previous} --> {env}"]
        previous = env
        hours = _hours(stage.get("soak_time_hours"))
        if hours:
            lines += [f'  {env}_soak["soak {hours} h, health checked every minute"]', f"  {previous} --> {env}_soak"]
            previous = f"{env}_soak"
    return lines + _rollback_path(kind, environments)


def _production(stage: dict[str, Any], kind: str, previous: str) -> list[str]:
    approver = label(stage.get("approval_required", "")) or "required reviewers"
    lines = [f'  approval{{"approval: {approver}"}}', f"  {previous} --> approval"]
    if kind == "canary":
        share, hours = _number(stage.get("canary_percentage")), _hours(stage.get("canary_duration_hours"))
        lines += [
            f'  canary["production canary: {share}% of traffic for {hours} h"]',
            '  analysis{"analysis: error rate and latency"}',
            '  production["production: 100% of traffic"]',
            "  approval --> canary --> analysis",
            "  analysis -->|pass| production",
        ]
        check = "analysis"
    elif kind == "blue_green":
        lines += [
            '  preview["production preview: new version beside the active one"]',
            '  checks{"pre-promotion analysis and preview smoke test"}',
            '  production["promote: the active service switches"]',
            "  approval --> preview --> checks",
            "  checks -->|pass| production",
        ]
        check = "checks"
    else:
        lines += [
            '  rolling["production: rolling update, readiness-gated"]',
            '  checks{"rollout status and smoke test"}',
            '  production["production: new version live"]',
            "  approval --> rolling --> checks",
            "  checks -->|pass| production",
        ]
        check = "checks"
    return [*lines, f'  verify["production {_tests(stage)}"]', "  production --> verify", f"  {check} -->|fail| rollback"]


def _rollback_path(kind: str, environments: list[str]) -> list[str]:
    rollout = kind in {"canary", "blue_green"}
    what = "abort: Argo Rollouts returns traffic to the stable version" if rollout else "undo to the recorded revision"
    lines = [f'  rollback["rollback: {what}"]']
    lines += [f"  {env} -.->|deploy fails| rollback" for env in environments if env != "production"]
    return lines


def _tests(stage: dict[str, Any]) -> str:
    tests = [label(t) for t in stage.get("tests", []) if isinstance(t, str) and label(t)]
    return f"tests: {', '.join(tests)}" if tests else "no tests"


def _hours(value: Any) -> str:
    return _number(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else ""


def _number(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "?"
    return f"{value:g}"
