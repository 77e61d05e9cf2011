"""Policy rules for runbook.md: a title, the required sections, rollback commands, alerts documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agent.validation.violations import Violation, as_list, dig, rule

A = "runbook.md"
SECTIONS = {
    "overview": ("overview", "summary", "about", "description", "introduction", "service"),
    "monitoring": ("monitoring", "observability", "dashboard", "alerts", "metrics"),
    "common issues": ("common issues", "troubleshooting", "known issues", "failure modes", "issues", "incidents"),
    "rollback procedure": ("rollback", "roll back", "rolling back", "revert"),
    "contacts": ("contacts", "contact", "escalation", "on-call", "on call", "owners", "ownership"),
}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Section:
    level: int
    title: str
    body: str


def sections(text: str) -> list[Section]:
    """Headings outside fenced code, each with the text up to the next heading of its level or above."""
    found: list[tuple[int, str, int]] = []
    lines = text.splitlines()
    fenced = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append((len(m.group(1)), m.group(2), number))
    result = []
    for i, (level, title, start) in enumerate(found):
        end = next((n for lv, _, n in found[i + 1 :] if lv <= level), len(lines))
        result.append(Section(level, title, "\n".join(lines[start + 1 : end])))
    return result


def _find(parts: list[Section], synonyms: tuple[str, ...]) -> Section | None:
    return next((s for s in parts if s.level >= 2 and any(w in s.title.lower() for w in synonyms)), None)


@rule("runbook.title", A, "the runbook starts with a `# ` title")
def title(text: str, parts: list[Section]) -> Iterator[Violation]:
    if not parts or parts[0].level != 1:
        yield Violation(A, "$", "runbook.title", "no `# Runbook: <service>` title at the top")


@rule(
    "runbook.sections",
    A,
    "sections for overview, monitoring, common issues, rollback procedure and contacts/escalation (synonyms allowed)",
)
def required_sections(text: str, parts: list[Section]) -> Iterator[Violation]:
    for name, synonyms in SECTIONS.items():
        if not _find(parts, synonyms):
            yield Violation(A, "$", "runbook.sections", f"no {name} section (a `## ` heading with one of: {', '.join(synonyms)})")


@rule("runbook.rollback_commands", A, "the rollback section holds a fenced command block")
def rollback_commands(text: str, parts: list[Section]) -> Iterator[Violation]:
    section = _find(parts, SECTIONS["rollback procedure"])
    if section and not any(_FENCE.match(line) for line in section.body.splitlines()):
        yield Violation(A, f"$.{section.title}", "runbook.rollback_commands", "the rollback section has no ``` command block")


@rule("runbook.alerts_documented", A, "every alert named in deployment.json appears in the runbook")
def alerts_documented(text: str, deployment: Any) -> Iterator[Violation]:
    for alert in as_list(dig(deployment, "monitoring", "alerts")):
        name = alert.get("name") if isinstance(alert, dict) else None
        if isinstance(name, str) and name and name not in text:
            yield Violation(
                A,
                "$",
                "runbook.alerts_documented",
                f"alert {name!r} from deployment.json is not mentioned; say what to do when it fires",
            )


def check(text: str, deployment: Any = None) -> list[Violation]:
    parts = sections(text)
    found = [*title(text, parts), *required_sections(text, parts), *rollback_commands(text, parts)]
    if deployment is not None:
        found += alerts_documented(text, deployment)
    return found
