"""Policy rules for runbook.md: a title, the required sections, rollback commands, alerts documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

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


class Section(NamedTuple):
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
    """The section a synonym names: a `## ` heading first; deeper ones only outside the alert sections of "Common Issues"
    (an alert named `RollbackCoordinatorDown` is not the rollback procedure)."""
    matches = [s for s in _outside_issues(parts) if s.level >= 2 and any(w in s.title.lower() for w in synonyms)]
    return min(matches, key=lambda s: s.level, default=None)


def _outside_issues(parts: list[Section]) -> Iterator[Section]:
    issues = False
    for s in parts:
        if s.level <= 2:
            issues = s.level == 2 and any(w in s.title.lower() for w in SECTIONS["common issues"])
            yield s
        elif not issues:
            yield s


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


@rule(
    "runbook.alert_sections",
    A,
    "each alert of deployment.json has its own `### <AlertName>` section (the alert rules' runbook_url points at its anchor)",
)
def alert_sections(parts: list[Section], deployment: Any) -> Iterator[Violation]:
    titles = {s.title.strip() for s in parts if s.level == 3}
    for alert in as_list(dig(deployment, "monitoring", "alerts")):
        name = alert.get("name") if isinstance(alert, dict) else None
        if isinstance(name, str) and name and name in text_of(parts) and name not in titles:
            yield Violation(A, "$", "runbook.alert_sections", f"no `### {name}` section: the alert's runbook link would land nowhere")


def text_of(parts: list[Section]) -> str:
    return "\n".join(f"{s.title}\n{s.body}" for s in parts)


_SHELL_FENCE = re.compile(r"^\s*(?:```|~~~)\s*(?:bash|sh|shell|console|zsh)?\s*$")
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w .:/-]*>")


def command_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block that holds shell commands (untagged or bash/sh/shell/console)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    shell = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            if current is None:
                current, shell = [], bool(_SHELL_FENCE.match(line))
                start = number + 1
            else:
                if shell:
                    blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


@rule("runbook.placeholders", A, "no `<placeholder>` inside a command block: define shell variables at the top (`NAMESPACE=…`) instead")
def placeholders(text: str) -> Iterator[Violation]:
    for start, lines in command_blocks(text):
        for offset, line in enumerate(lines):
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            if match := _PLACEHOLDER.search(code):
                yield Violation(
                    A,
                    f"line {start + offset}",
                    "runbook.placeholders",
                    f"{match.group(0)} does not paste and run (the shell reads `<` as a redirection); use a variable set at the top",
                )


_ARGO = re.compile(r"kubectl[- ]argo[- ]rollouts\s+(?:\S+\s+)*?(?:abort|undo)\b")
_DEPLOYMENT_UNDO = re.compile(r"kubectl\s+(?:\S+\s+)*?rollout\s+undo\b")


@rule(
    "runbook.engine_commands",
    A,
    "the rollback commands drive the plan's engine: `kubectl argo rollouts abort/undo` for canary and blue/green, "
    "`kubectl rollout undo` for rolling",
)
def engine_commands(text: str, parts: list[Section], deployment: Any) -> Iterator[Violation]:
    strategy = dig(deployment, "deployment_strategy", "type")
    section = _find(parts, SECTIONS["rollback procedure"])
    if section is None or strategy not in {"canary", "blue_green", "rolling"}:
        return
    commands = "\n".join(line for _, lines in command_blocks(section.body + "\n") for line in lines)
    path = f"$.{section.title}"
    if not commands.strip():
        return  # runbook.rollback_commands already says the section has no commands
    if strategy == "rolling":
        if not _DEPLOYMENT_UNDO.search(commands):
            message = "a rolling plan runs a Deployment: roll back with `kubectl rollout undo deployment/…`"
            yield Violation(A, path, "runbook.engine_commands", message)
        return
    if _DEPLOYMENT_UNDO.search(commands):
        yield Violation(
            A, path, "runbook.engine_commands", f"a {strategy} plan runs an Argo Rollout: `kubectl rollout undo` does not roll it back"
        )
    if not _ARGO.search(commands):
        yield Violation(A, path, "runbook.engine_commands", "no `kubectl argo rollouts abort` / `undo` for the plan's Argo Rollout")


_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(NAMESPACE|APP)=[\"']?([^\s\"';]+)[\"']?\s*$")


@rule(
    "runbook.plan_names",
    A,
    "the runbook's `NAMESPACE=` is where the plan deploys: infrastructure.namespace, else the app (`APP=`)",
)
def plan_names(text: str, deployment: Any) -> Iterator[Violation]:
    values: dict[str, tuple[int, str]] = {}
    for start, lines in command_blocks(text):
        for offset, line in enumerate(lines):
            if (m := _ASSIGNMENT.match(line)) and m.group(1) not in values:
                values[m.group(1)] = (start + offset, m.group(2))
    planned = dig(deployment, "infrastructure", "namespace")
    want = planned if isinstance(planned, str) and planned else values.get("APP", (0, ""))[1]
    number, got = values.get("NAMESPACE", (0, ""))
    if got and want and got != want:
        yield Violation(A, f"line {number}", "runbook.plan_names", f"NAMESPACE={got}, but the plan deploys into namespace {want!r}")


def check(text: str, deployment: Any = None) -> list[Violation]:
    parts = sections(text)
    found = [*title(text, parts), *required_sections(text, parts), *rollback_commands(text, parts), *placeholders(text)]
    if deployment is not None:
        found += [*alerts_documented(text, deployment), *alert_sections(parts, deployment), *engine_commands(text, parts, deployment)]
        found += plan_names(text, deployment)
    return found
