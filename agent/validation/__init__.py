"""Check the devops outputs: schema first, then every policy rule, all violations at once."""

from __future__ import annotations

from typing import Any, NamedTuple

# Every rule module is imported here, so the registry (README table, prompt policy list) never depends on import order.
from agent.validation import cicd, cross, deployment, k8s, runbook, schemas
from agent.validation.violations import RULES, Violation, declare, errors, rules_markdown

FILES_MATCH = declare(
    "decision.files_match",
    "decision_log.jsonl",
    "the files the last devops decision recorded (sha256 in `details.files`) are on disk unchanged (a hand edit is reported, "
    "and every file is still checked on its own)",
    "warning",
)

__all__ = ["FILES_MATCH", "RULES", "Bundle", "Violation", "check_bundle", "errors", "k8s", "rules_markdown"]


def check_deployment(doc: Any, declared_endpoints: list[str]) -> list[Violation]:
    found = schemas.check("deployment", doc, deployment.A)
    return found + deployment.check(doc) + cross.check(doc, declared_endpoints)


def check_cicd(text: str, deployment_doc: Any = None, *, artifacts_dir: str | None = None, external: bool = True) -> list[Violation]:
    """The workflow's rules; with the plan, also whether it realises it; ``external`` runs actionlint and zizmor too."""
    return cicd.check(text, deployment_doc, artifacts_dir=artifacts_dir, external_tools=external)


def check_runbook(text: str, deployment_doc: Any = None) -> list[Violation]:
    return runbook.check(text, deployment_doc)


def check_veto(doc: Any, artifact: str = "veto") -> list[Violation]:
    return schemas.check("veto", doc, artifact)


def check_decision(entry: Any, artifact: str = "decision_log.jsonl") -> list[Violation]:
    return schemas.check("decision", entry, artifact)


class Bundle(NamedTuple):
    """The three approval artifacts, as they will be written."""

    deployment: dict[str, Any] | None
    cicd: str | None
    runbook: str | None


def check_bundle(
    bundle: Bundle, declared_endpoints: list[str], *, artifacts_dir: str | None = None, external: bool = True
) -> list[Violation]:
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
        found += check_cicd(bundle.cicd, bundle.deployment, artifacts_dir=artifacts_dir, external=external)
    if bundle.runbook is not None:
        found += check_runbook(bundle.runbook, bundle.deployment)
    return found
