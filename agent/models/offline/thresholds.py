"""Alert thresholds the plan states in its own words ("refund error rate > 0.5%", "p99 latency > 300ms").

Read conservatively: only a number right after a comparison, in a sentence naming an error rate or a latency
percentile, within sane bounds; the tightest such threshold wins. Anything else falls back to the defaults.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from agent.upstream import Plan

_ABOVE = r"(?:>=?|≥|above|over|exceeds?|greater than|more than)"
_ERROR_RATE = re.compile(rf"\berror[\s_-]*rate\b[^0-9%<>\n]{{0,40}}?{_ABOVE}\s*(\d+(?:\.\d+)?)\s*%", re.I)
_LATENCY = re.compile(
    rf"\bp(50|75|90|95|99|99\.9)\b[^0-9<>\n]{{0,40}}?{_ABOVE}\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b", re.I
)
_WORDS = ("metric", "monitor", "slo", "sli", "alert", "success")


class Threshold(NamedTuple):
    value: float
    """A ratio (0.005 for 0.5 %) or seconds (0.3 for 300 ms)."""
    quantile: str = ""
    """For a latency: "0.99"."""
    source: str = ""
    """The plan's words it was read from, one line, shortened."""


def error_rate(plan: Plan) -> Threshold | None:
    found = [
        Threshold(float(m.group(1)) / 100, source=_shorten(text))
        for text in _texts(plan)
        for m in _ERROR_RATE.finditer(text)
        if 0 < float(m.group(1)) <= 50
    ]
    return min(found, key=lambda t: t.value, default=None)


def latency(plan: Plan) -> Threshold | None:
    found: list[Threshold] = []
    for text in _texts(plan):
        for m in _LATENCY.finditer(text):
            seconds = float(m.group(2)) / (1000 if m.group(3).lower().startswith("m") else 1)
            if 0.001 <= seconds <= 60:
                found.append(Threshold(seconds, f"0.{m.group(1).replace('.', '')}", _shorten(text)))
    return min(found, key=lambda t: t.value, default=None)


def _texts(plan: Plan) -> list[str]:
    """Where a plan states thresholds: rollback triggers, risks, and extra fields about metrics, SLOs or alerts."""
    texts = [str(t) for t in plan.rollback_plan.trigger_conditions] if plan.rollback_plan else []
    texts += [t for r in plan.risks for t in (r.risk, r.mitigation) if t]
    for key, value in plan.extra.items():
        if any(word in key.lower() for word in _WORDS):
            texts += _strings(value)
    return [" ".join(t.split()) for t in texts]


def _strings(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [value]
    if depth > 3:
        return []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item, depth + 1)]


def _shorten(line: str) -> str:
    return line if len(line) <= 100 else line[:99] + "…"
