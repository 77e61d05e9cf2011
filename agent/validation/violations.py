"""The one result type of every check: a violation with artifact, JSON path, rule id and severity."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, NamedTuple, TypeVar

Severity = Literal["error", "warning"]


class Violation(NamedTuple):
    artifact: str
    path: str
    rule: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.artifact} {self.path}: {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class Rule(NamedTuple):
    id: str
    artifact: str
    summary: str
    severity: Severity = "error"


F = TypeVar("F", bound=Callable[..., Any])
RULES: dict[str, Rule] = {}


def declare(id: str, artifact: str, summary: str, severity: Severity = "error") -> str:
    """Add a rule to the table (the README's policy section is generated from it)."""
    RULES[id] = Rule(id, artifact, summary, severity)
    return id


def rule(id: str, artifact: str, summary: str, severity: Severity = "error") -> Callable[[F], F]:
    """Declare a rule and mark the function that checks it."""

    def register(check: F) -> F:
        declare(id, artifact, summary, severity)
        return check

    return register


def json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def errors(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "error"]


def dig(doc: Any, *keys: str | int) -> Any:
    """Follow keys into nested dicts/lists; ``None`` where anything is missing or mistyped."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(doc, list) or key >= len(doc):
                return None
        elif not isinstance(doc, dict):
            return None
        doc = doc[key] if isinstance(key, int) else doc.get(key)
    return doc


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


declare("artifact.missing", "all", "an approval writes all three artifacts: deployment.json, cicd.yaml, runbook.md")


def rules_markdown() -> str:
    """The policy table for the README, straight from the registry."""
    lines = ["| rule | artifact | severity | what it checks |", "|---|---|---|---|"]
    for r in sorted(RULES.values(), key=lambda r: (r.artifact, r.id)):
        lines.append(f"| `{r.id}` | {r.artifact} | {r.severity} | {r.summary} |")
    return "\n".join(lines)

