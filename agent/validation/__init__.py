"""Check the devops outputs: schema first, then every policy rule, all violations at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.validation import cicd, cross, deployment, runbook, schemas
from agent.validation.violations import RULES, Violation, errors, rules_markdown

__all__ = ["RULES", "Bundle", "Violation", "check_bundle", "errors", "rules_markdown"]


def check_deployment(doc: Any, declared_endpoints: list[str]) -> list[Violation]:
    found = schemas.check("deployment", doc, deployment.A)
    return found + deployment.check(doc) + cross.check(doc, declared_endpoints)


def check_cicd(text: str) -> list[Violation]:
    return cicd.check(text)


def check_runbook(text: str, deployment_doc: Any = None) -> list[Violation]:
    return runbook.check(text, deployment_doc)


def check_veto(doc: Any, artifact: str = "veto") -> list[Violation]:
    return schemas.check("veto", doc, artifact)


def check_decision(entry: Any, artifact: str = "decision_log.jsonl") -> list[Violation]:
    return schemas.check("decision", entry, artifact)


@dataclass
class Bundle:
    """The three approval artifacts, as they will be written."""

    deployment: dict[str, Any] | None
    cicd: str | None
    runbook: str | None


def check_bundle(bundle: Bundle, declared_endpoints: list[str]) -> list[Violation]:
    found: list[Violation] = []
    for name, value in (
        ("deployment.json", bundle.deployment),
        ("cicd.yaml", bundle.cicd),
        ("runbook.md", bundle.runbook),
    ):
        if value is None:
            found.append(Violation(name, "$", "artifact.missing", f"{name} has not been written"))
    if bundle.deployment is not None:
        found += check_deployment(bundle.deployment, declared_endpoints)
    if bundle.cicd is not None:
        found += check_cicd(bundle.cicd)
    if bundle.runbook is not None:
        found += check_runbook(bundle.runbook, bundle.deployment)
    return found
