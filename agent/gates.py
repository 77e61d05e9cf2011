"""Deterministic gates that decide before any model is asked: quality approval, the security scan, open blockers.

Only structured fields count here; no text inside an upstream file can change a gate's outcome. Each gate
fails closed: anything short of an unambiguous approval and an unambiguous pass stops the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from agent import decision_log
from agent.artifacts import Veto
from agent.inputs import Inputs
from agent.names import looks_like, word
from agent.upstream import MAX_EVIDENCE, Review, ScanReading, blockers, describe, read_iteration, read_scan, shown

REVIEW = "artifacts/review.json"
IMPLEMENTATION = "artifacts/implementation.json"
_PASS_WORDS = frozenset({"pass", "passed", "approved"})


class GateResult(NamedTuple):
    outcome: Literal["not_ready", "veto", "pass"]
    reason: str = ""
    veto: Veto | None = None
    findings: Sequence[str] = ()


def evaluate(inputs: Inputs) -> GateResult:
    refusal = (
        not_approved(inputs.review)
        or other_iteration(inputs)
        or other_spellings(inputs)
        or unread_messages(inputs)
        or quality_dissent(inputs)
        or review_contradicts(inputs.review)
    )
    if refusal:
        return GateResult("not_ready", refusal)
    veto = readiness_veto(inputs)
    if veto:
        return GateResult("veto", veto.reason, veto=veto)
    return GateResult("pass", findings=findings(inputs))


def not_approved(review: Review) -> str | None:
    """Why quality's approval does not hold, or None: a main status must say approved and no status present may disagree."""
    statuses = review.statuses()
    main = [key for key in statuses if key in {"review_status", "approval.status", "approval"}]  # exact spellings only
    against = {key: value for key, value in statuses.items() if not _says_approved(key, value)}
    if main and not against:
        return None
    listed = ", ".join(f"{key}={shown(value)}" for key, value in against.items()) or "no review_status or approval.status"
    return f"quality has not approved ({listed} in {REVIEW})"


def other_iteration(inputs: Inputs) -> str | None:
    """Why the implementation is not what quality reviewed, or None: implementation.json names a later iteration (code
    changed since the review). The field is not part of the protocol: an earlier number (a field left as it was) or a
    value that is not an iteration ("current") claims nothing."""
    try:
        built = read_iteration(inputs.implementation.iteration)
    except ValueError:
        return None
    if built is None or built <= inputs.iteration:
        return None
    return f"quality reviewed iteration {inputs.iteration}; {IMPLEMENTATION} is iteration {built}, which it has not approved"


_QUALITY_CONCURS = frozenset({"approve", "approved", "request", "response"})
"""The protocol's message types other than a veto: any other word from quality (``rejected``, none) may be one."""
_APPROVES = frozenset({"approve", "approved"})


def quality_dissent(inputs: Inputs) -> str | None:
    """Why quality's own word elsewhere contradicts review.json's approval, or None: a message from quality in the inbox
    about this epic and iteration that is a veto or of a type the protocol does not name, or quality's newest
    decision-log line for them that does not approve (see :func:`_quality_logged`)."""
    for message in inputs.messages:
        ours = word(message.epic_id) in (None, word(inputs.epic_id)) and message.iteration in (None, inputs.iteration)
        if ours and word(message.sender) == "quality" and message.type not in _QUALITY_CONCURS:
            kind = "a veto" if message.type == "veto" else f"of type {shown(message.type)}, which the protocol does not know"
            return f"quality's message {message.label} is {kind}, though {REVIEW} approves"
    return _quality_logged(inputs)


def _quality_logged(inputs: Inputs) -> str | None:
    """Quality's newest decisive log line for this epic and iteration must approve. Read as a person reads it, failing
    closed: a line that could be quality's word and reads differently to different readers (torn, a key twice or spelled
    another way) dissents; so does one whose agent, epic id or iteration only looks like quality's, this epic's or this
    one (a Cyrillic letter, full-width digits, ``"v1"``), unless it approves, which then approves nothing."""
    for line in decision_log.about(inputs.workspace.decision_log, inputs.epic_id):
        try:
            read = decision_log.read_strictly(line)
        except decision_log.Unclear as unclear:
            if decision_log.mentions(line, "quality", word(inputs.epic_id) or ""):
                could = f"a decision-log line that could be quality's word on {inputs.epic_id}"
                return f"{could} reads differently to different readers ({unclear}): {decision_log.excerpt(line)}"
            continue
        verdict = _quality_verdict(read, inputs)
        if verdict == "approves":
            return None
        if verdict == "dissents":
            said = shown(read.get("decision"))
            return f"quality's newest log line for iteration {inputs.iteration} says {said}, though {REVIEW} approves"
    return None


def _quality_verdict(entry: dict[str, Any], inputs: Inputs) -> Literal["approves", "dissents"] | None:
    """What one log line says of this epic and iteration as quality's word; None when it is not that (another agent,
    epic or iteration, or no ``decision``). A line naming no epic or no iteration speaks of the current ones: it may
    dissent, and approves nothing."""
    agent, epic, decision = entry.get("agent"), entry.get("epic_id"), entry.get("decision")
    if decision is None or not _reads_as(agent, "quality"):
        return None
    if epic is not None and not _reads_as(epic, word(inputs.epic_id) or ""):
        return None
    try:
        iteration = read_iteration(entry.get("iteration"))
    except ValueError:
        iteration = None  # not an iteration ("v1"): it may be this one
    if iteration not in (None, inputs.iteration):
        return None
    exact = isinstance(agent, str) and agent.isascii() and word(agent) == "quality" and iteration is not None  # not the Kelvin k
    exact = exact and epic is not None and str(epic).isascii() and word(str(epic)) == word(inputs.epic_id)
    if word(decision) in _APPROVES:
        return "approves" if exact else None  # an approval that only looks like quality's approves nothing
    return "dissents"


def _reads_as(value: Any, name: str) -> bool:
    """A value a person reads as ``name``: a string that looks like it, or a list or object that holds it as a word
    (``["quality"]``: a sloppy writer's shape, which never approves, see ``exact``)."""
    if isinstance(value, str):
        return looks_like(value, {name})
    return isinstance(value, list | dict) and decision_log.mentions(json.dumps(value).encode(), name)


GATE_FIELDS = {
    f"{REVIEW} ": frozenset({"review_status", "approval", "three_pass_review", "security_scan", "blockers", "epic_id", "iteration"}),
    f"{IMPLEMENTATION} ": frozenset({"blockers", "iteration"}),
    f"{REVIEW} approval.": frozenset({"conditions"}),
}
"""The fields the gates read, by where they are read from (the file, or its block)."""


def other_spellings(inputs: Inputs) -> str | None:
    """Why the gates cannot tell which field counts, or None: a field they read is also there in another spelling
    (``Review_Status`` beside or instead of ``review_status``), which they would otherwise never see."""
    approval = inputs.review.approval_block
    extras = (inputs.review.extra, inputs.implementation.extra, approval.extra if approval else {})
    places = zip(GATE_FIELDS.items(), extras, strict=True)
    found = [f"{where}{key!r}" for (where, names), extra in places for key in extra if looks_like(key, names)]
    return f"a field the gates read is spelled another way: {', '.join(found)} (which one counts is ambiguous)" if found else None


def unread_messages(inputs: Inputs) -> str | None:
    """Why the inbox cannot be read whole, or None: a message that could not be read could be quality's veto."""
    if not inputs.unread:
        return None
    return f"{len(inputs.unread)} inbox message(s) could not be read, and any could be a veto: {_listed(inputs.unread, 3)}"


_MUST_HOLD = frozenset({"production_ready", "security_verified", "acceptance_criteria_met"})
_SEVERE = frozenset({"critical", "high", "blocker"})


def review_contradicts(review: Review) -> str | None:
    """Why a review pass contradicts the approval, or None: it says the release is not production ready, not secure or
    not accepted (``production_ready: false``), or lists an issue of critical, high or blocker severity."""
    said: list[str] = []
    for name, review_pass in review.three_pass_review.items():
        if not isinstance(review_pass, dict):
            continue
        for key, value in review_pass.items():
            if word(key) in _MUST_HOLD and (value is False or word(value) in {"false", "no"}):
                said.append(f"three_pass_review.{name}.{key}={shown(value)}")
            elif word(key) == "issues_found" and isinstance(value, list):
                severe = [(level, issue) for issue in value if (level := _severe(issue))]
                said += [f"three_pass_review.{name}.{key} has a {level} issue: {describe(issue)}" for level, issue in severe]
    return f"quality approves, but its review says otherwise: {_listed(said, 5)} (in {REVIEW})" if said else None


def _severe(issue: object) -> str | None:
    """The issue's severity when it is critical or high (in any spelling of the key), else None."""
    levels = [word(v) for k, v in issue.items() if word(k) == "severity"] if isinstance(issue, dict) else []
    return next((level for level in levels if level in _SEVERE), None)


def _says_approved(key: str, value: Any) -> bool:
    if key.startswith("approval.") and word(key.removeprefix("approval.")) == "merge_ready":
        return value is True
    return word(value) in (_PASS_WORDS if key.startswith("three_pass_review.") else {"approved"})


def readiness_veto(inputs: Inputs) -> Veto | None:
    """A veto when the scan is not an unambiguous pass or a blocker is still open; None when both are clear."""
    scan = read_scan(inputs.review.security_scan)
    open_blockers = _open_blockers(inputs)
    if scan.state == "passed" and not open_blockers:
        return None
    if scan.state == "failed":
        return _security_veto(scan, inputs, open_blockers)
    return _not_ready_veto(scan, open_blockers)


def _open_blockers(inputs: Inputs) -> list[tuple[str, Any]]:
    found = [(REVIEW, item) for item in blockers(inputs.review.blockers)]
    return found + [(IMPLEMENTATION, item) for item in blockers(inputs.implementation.blockers)]


def _security_veto(scan: ScanReading, inputs: Inputs, open_blockers: list[tuple[str, Any]]) -> Veto:
    count = scan.total  # findings, not fields: {"critical": 1, "high": 2} is 3
    found = f"{count} finding(s): {_listed([describe(f) for f in scan.found])}" if count else f"no pass ({scan.verdict})"
    return Veto(
        subject="security_vulnerability",
        content={
            "violation": "Security scan failed" + (f": {count} finding(s)" if count else ""),
            "specifics": _sentences([f"{REVIEW} security_scan reports {found}", *scan.problems, *_blocker_lines(open_blockers)]),
            "location": _places(True, open_blockers),
            "impact": "Deploying would ship known vulnerabilities to production",
            "requirement": "security_scan.passed is true and every count or list of findings is zero or empty",
            "suggestion": "Fix or formally accept each finding, re-run the scan, and re-review",
            "blocking": True,
            "findings": _evidence(scan.found) + _scan_warnings(inputs) + _blocker_findings(open_blockers),
        },
        action_needed="fix_security_vulnerabilities",
        reason=f"security scan failed ({count} finding(s))" if count else "security scan did not pass",
        source="gate",
    )


def _not_ready_veto(scan: ScanReading, open_blockers: list[tuple[str, Any]]) -> Veto:
    scan_ok = scan.state == "passed"
    problems = [] if scan_ok else [f"{REVIEW}: {p}" for p in scan.problems]
    violation = "Open blockers" if scan_ok else "No readable passed security scan in the quality review"
    return Veto(
        subject="not_production_ready",
        content={
            "violation": violation + (" and open blockers" if open_blockers and not scan_ok else ""),
            "specifics": _sentences([*problems, *_blocker_lines(open_blockers)]),
            "location": _places(not scan_ok, open_blockers),
            "impact": "Cannot show the release is free of known vulnerabilities and open blockers",
            "requirement": "Security scanning passed (seed: MUST HAVE before deployment) and no open blockers",
            "suggestion": "Record a passed security_scan in review.json (passed: true, no findings) and resolve or remove each blocker",
            "blocking": True,
            "findings": _blocker_findings(open_blockers),
        },
        action_needed="resolve_blockers" if scan_ok else "run_security_scan",
        reason=_not_ready_reason(scan, open_blockers),
        source="gate",
    )


def _not_ready_reason(scan: ScanReading, open_blockers: list[tuple[str, Any]]) -> str:
    parts = {"passed": [], "missing": ["review.json has no security_scan"]}.get(scan.state, ["the security scan is not an explicit pass"])
    if open_blockers:
        parts.append(f"{len(open_blockers)} open blocker(s)")
    return "; ".join(parts)


def _blocker_lines(open_blockers: list[tuple[str, Any]]) -> list[str]:
    sources = dict.fromkeys(source for source, _ in open_blockers)
    return [f"{source} lists blockers: {_listed([describe(i) for s, i in open_blockers if s == source])}" for source in sources]


def _places(scan: bool, open_blockers: list[tuple[str, Any]]) -> str:
    places = [f"{REVIEW}: security_scan"] if scan else []
    return "; ".join(places + [f"{source}: blockers" for source in dict.fromkeys(source for source, _ in open_blockers)])


def _blocker_findings(open_blockers: list[tuple[str, Any]]) -> list[str]:
    return [f"blocker ({source}): {describe(item)}" for source, item in open_blockers[:MAX_EVIDENCE]]


def _scan_warnings(inputs: Inputs) -> list[str]:
    """The scan's warnings (not findings: they never fail it), as context in a veto."""
    scan = inputs.review.security_scan
    warnings = scan.get("warnings") if isinstance(scan, dict) else None
    return [f"warning: {describe(w)}" for w in warnings[:MAX_EVIDENCE]] if isinstance(warnings, list) else []


def _listed(items: list[str], limit: int = 10) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _sentences(parts: list[str]) -> str:
    return ". ".join(p.rstrip(".") for p in parts if p) + "."


def _evidence(found: Sequence[Any]) -> list[Any]:
    """Findings as given when they are small (structured evidence for quality), else one line each; at most MAX_EVIDENCE."""
    kept = [item if _small(item) else describe(item) for item in found[:MAX_EVIDENCE]]
    return kept + ([f"(+{len(found) - MAX_EVIDENCE} more findings)"] if len(found) > MAX_EVIDENCE else [])


def _small(item: Any) -> bool:
    return isinstance(item, str | dict) and len(json.dumps(item, default=str)) <= 1000


def findings(inputs: Inputs) -> list[str]:
    """Facts the model should weigh; they inform the decision but do not make it."""
    notes: list[str] = []
    approval = inputs.review.approval_block
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
    scenarios = inputs.review.test_analysis.get("additional_scenarios_needed")
    if scenarios:
        notes.append(f"quality asks for additional test scenarios: {scenarios}")
    for warning in inputs.warnings:
        notes.append(f"input warning: {warning}")
    return notes
