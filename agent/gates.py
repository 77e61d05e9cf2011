"""Deterministic gates that decide before any model is asked: quality approval and the security scan.

Only structured fields count here; no text inside an upstream file can change a gate's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.artifacts import Veto
from agent.workspace import Inputs


@dataclass(frozen=True)
class GateResult:
    outcome: Literal["not_ready", "veto", "pass"]
    reason: str = ""
    veto: Veto | None = None
    findings: list[str] = field(default_factory=list)


def evaluate(inputs: Inputs) -> GateResult:
    review = inputs.review
    statuses = {
        "review_status": review.review_status,
        "approval.status": review.approval.status if review.approval else None,
    }
    given = {k: v for k, v in statuses.items() if v is not None}
    if not given or any(v != "approved" for v in given.values()):
        shown = ", ".join(f"{k}={v!r}" for k, v in statuses.items())
        return GateResult("not_ready", f"quality has not approved ({shown} in artifacts/review.json)")
    veto = _security_veto(inputs)
    if veto:
        return GateResult("veto", veto.reason, veto=veto)
    return GateResult("pass", findings=findings(inputs))


def _security_veto(inputs: Inputs) -> Veto | None:
    scan = inputs.review.security_scan
    if scan is None:
        return Veto(
            subject="not_production_ready",
            content={
                "violation": "No security scan result in the quality review",
                "location": "artifacts/review.json: security_scan",
                "impact": "Cannot show the release is free of known vulnerabilities",
                "requirement": "Security scanning passed (seed: MUST HAVE before deployment)",
                "suggestion": "Run the security scan (e.g. bandit, pip-audit) and record security_scan in review.json",
                "blocking": True,
            },
            action_needed="run_security_scan",
            reason="review.json has no security_scan",
            source="gate",
        )
    count = scan.vulnerability_count
    if scan.passed is not False and count == 0:
        return None
    findings: list[Any] = scan.findings or [f"{count} vulnerabilities reported"] if count else []
    return Veto(
        subject="security_vulnerability",
        content={
            "violation": f"Security scan failed: {count} vulnerabilities found, passed={scan.passed}",
            "location": "artifacts/review.json: security_scan",
            "impact": "Deploying would ship known vulnerabilities to production",
            "requirement": "security_scan.passed is true and vulnerabilities_found is 0",
            "suggestion": "Fix or formally accept each finding, re-run the scan, and re-review",
            "blocking": True,
            "findings": findings + [f"warning: {w}" for w in scan.warnings],
        },
        action_needed="fix_security_vulnerabilities",
        reason=f"security scan failed ({count} vulnerabilities)",
        source="gate",
    )


def findings(inputs: Inputs) -> list[str]:
    """Facts the model should weigh; they inform the decision but do not make it."""
    notes: list[str] = []
    approval = inputs.review.approval
    if approval and approval.conditions:
        notes.append(f"quality approved with conditions: {approval.conditions}")
    declared = inputs.implementation.declared_endpoints()
    notes.append(
        f"implementation.json declares endpoints: {declared}"
        if declared
        else "implementation.json declares no endpoints; infer health endpoints only from evidence"
    )
    if inputs.plan.rollback_plan is None:
        notes.append("plan.json has no rollback_plan")
    if inputs.implementation.blockers:
        notes.append(f"implementation.json lists blockers: {inputs.implementation.blockers}")
    scenarios = inputs.review.test_analysis.get("additional_scenarios_needed")
    if scenarios:
        notes.append(f"quality asks for additional test scenarios: {scenarios}")
    for warning in inputs.warnings:
        notes.append(f"input warning: {warning}")
    return notes
