"""Typed, lenient views of what upstream agents write: review, implementation, plan, messages.

Upstream agents are LLMs: unknown fields are kept (``extra``, see `agent.views`), optional
fields may be missing, and values are coerced only where that is unambiguous
(``"2"`` → 2 for an iteration). What a gate decides on (statuses, the security
scan, blockers, iterations) is kept raw here and read strictly by the functions
below, so an odd shape can never pass for an approval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal, NamedTuple

from agent.errors import printable
from agent.facts import as_list, declared_endpoints, task_files
from agent.names import word
from agent.views import Lenient, coerced, file_name, int_schema, items, mapping, raw, str_schema, text, view, views

MAX_ITERATION = 2**31 - 1
MAX_EVIDENCE = 50
"""At most this many findings or blockers are itemised in a veto; the rest are counted."""


def read_iteration(value: Any) -> int | None:
    """An iteration: a positive integer below 2**31 (``"2"`` and ``2.0`` read as 2); ``None`` when absent.

    Raises ValueError naming the value when it is present but not such an integer.
    """
    if value is None:
        return None
    number = _whole_number(value)
    if number is None or not 1 <= number <= MAX_ITERATION:
        raise ValueError(f"{shown(value)} is not an iteration (a positive integer below 2^31)")
    return number


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def shown(value: Any, limit: int = 200) -> str:
    """A value quoted for one line of a message: as JSON, escaped, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except ValueError:  # NaN and the like
        text = repr(value)
    return one_line(text, limit)


def one_line(text: str, limit: int = 200) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lenient_iteration(value: Any) -> int | None:
    try:
        return read_iteration(value)
    except ValueError:
        return None


def status() -> Any:
    """A word compared case-insensitively: stripped and lower-cased; anything but a string reads as ``None``."""
    return coerced(word, str_schema())


def iteration() -> Any:
    """An iteration when it reads as one (see :func:`read_iteration`), else ``None``."""
    return coerced(_lenient_iteration, int_schema())


class Approval(Lenient):
    status: Any = raw()
    conditions: list[Any] = items()
    merge_ready: Any = raw()


class Review(Lenient):
    epic_id: str | None = text()
    iteration: Any = raw()
    timestamp: str | None = text()
    review_status: Any = raw()
    approval: Any = raw()
    security_scan: Any = raw()
    blockers: Any = raw()
    three_pass_review: dict[str, Any] = mapping()
    test_analysis: dict[str, Any] = mapping()
    metrics: dict[str, Any] = mapping()

    @property
    def approval_block(self) -> Approval | None:
        return Approval.read(self.approval) if isinstance(self.approval, dict) else None

    def statuses(self) -> dict[str, Any]:
        """Every status field present (null counts as absent) that quality's approval consists of, raw, by its path in review.json."""
        found: dict[str, Any] = {"review_status": self.review_status}
        if isinstance(self.approval, dict):
            found |= _status_fields("approval", self.approval, ("status", "merge_ready"))
        else:
            found["approval"] = self.approval
        for name, review_pass in self.three_pass_review.items():
            stated = _status_fields(f"three_pass_review.{name}", review_pass, ("status",)) if isinstance(review_pass, dict) else {}
            # A pass that states no status ({"passed": false}, a bare "fail") is what it says, and nothing says approved.
            found |= stated or {f"three_pass_review.{name}": review_pass}
        return {k: v for k, v in found.items() if v is not None}


def _status_fields(where: str, block: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The fields ``names`` of ``block`` by their path, also when spelled in another case or with spaces ("Status"):
    whichever spelling another agent used, a status there counts."""
    return {f"{where}.{key}": value for key, value in block.items() if word(key) in names}


# ---------------------------------------------------------------- the security scan, read strictly

ScanState = Literal["missing", "passed", "failed", "unreadable"]
PASS_WORDS = frozenset({"pass", "passed", "success"})
FAIL_WORDS = frozenset({"fail", "failed", "failure", "false", "no", "off", "0", "error", "errored"})
VERDICTS = ("passed", "status", "result", "outcome", "verdict", "conclusion")
FINDING_FIELDS = ("vulnerabilities_found", "vulnerabilities", "findings", "issues")
SUMMARIES = ("summary", "counts", "totals")
"""Mappings of a severity (or any name) to a count or list of findings."""
SEVERITIES = ("critical", "high", "medium", "moderate", "low", "info", "unknown")
METADATA = frozenset(
    {"warnings", "tool", "tools", "scanner", "version", "timestamp", "scanned_at", "duration", "duration_seconds"}
    | {"report", "report_url", "target", "notes"}
)
"""Keys read as harmless context; any key outside these, the verdicts and the findings makes the scan unreadable."""


class ScanReading(NamedTuple):
    """What the scan says: ``found`` is the evidence of findings (``total`` how many), ``problems`` what could not be read."""

    state: ScanState
    found: Sequence[Any] = ()
    problems: Sequence[str] = ()
    verdict: str = ""
    total: int = 0


def read_scan(scan: Any) -> ScanReading:
    """Passed only on an explicit pass with every count and list of findings present at zero or empty, and no key we do not read."""
    if scan is None:
        return ScanReading("missing", problems=["security_scan is missing"])
    if not isinstance(scan, dict) or not scan:
        return ScanReading("unreadable", problems=[f"security_scan is {shown(scan)}, expected an object with a result"])
    found, problems, total = _scan_findings(scan)
    verdict, explicit = _scan_verdict(scan, problems)
    problems += _unknown_keys(scan) + _metadata_problems(scan)
    if found or verdict == "failed":
        return ScanReading("failed", found, problems, explicit, total)
    if verdict != "passed" or problems:
        return ScanReading("unreadable", found, problems or ["security_scan has no explicit pass (passed: true)"], explicit)
    return ScanReading("passed", verdict=explicit)


def _unknown_keys(scan: dict[str, Any]) -> list[str]:
    # A field we do not read may be the one that says the scan failed: it is not ignored.
    known = {*VERDICTS, *FINDING_FIELDS, *SUMMARIES, *SEVERITIES, *METADATA}
    unknown = [str(k) for k in scan if k not in known and not _count_key(k)]
    return [f"security_scan has fields this gate does not read: {one_line(', '.join(sorted(unknown)))}"] if unknown else []


def _metadata_problems(scan: dict[str, Any]) -> list[str]:
    """Metadata is context only while it is plain: a scalar, or a list or mapping of scalars whose keys name no verdict,
    finding or count. Anything else ({"tool": {"result": "fail"}}, a findings list under "report") may say the scan
    failed, and this gate does not read inside it."""
    return [f"security_scan.{key} holds {shown(scan[key])}, which this gate does not read" for key in sorted(METADATA & scan.keys())
            if not _plain(scan[key])]  # fmt: skip


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_scalar(v) for v in value)
    if isinstance(value, dict):
        return all(_scalar(v) and isinstance(k, str) and not _read_key(k.strip().lower()) for k, v in value.items())
    return _scalar(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _read_key(key: str) -> bool:
    return key in {*VERDICTS, *FINDING_FIELDS, *SUMMARIES, *SEVERITIES} or _count_key(key)


def _count_key(key: Any) -> bool:
    return isinstance(key, str) and key.endswith("_count") and key != "_count"


def _scan_verdict(scan: dict[str, Any], problems: list[str]) -> tuple[str, str]:
    """"passed" only when every verdict field present says pass; "failed" when one says fail; else "unknown"."""
    votes: list[str] = []
    for key in VERDICTS:
        if key in scan:
            votes.append(_vote(key, scan[key]))
            if votes[-1] == "unknown":
                problems.append(f"security_scan.{key} is {shown(scan[key])}, neither an explicit pass nor a failure")
    explicit = ", ".join(f"{k}={shown(scan[k])}" for k in VERDICTS if k in scan)
    if "failed" in votes:
        return "failed", explicit
    return ("passed" if votes and set(votes) == {"passed"} else "unknown"), explicit


def _vote(key: str, value: Any) -> str:
    if key == "passed" and isinstance(value, bool):
        return "passed" if value else "failed"
    word = str(value).strip().lower() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if word in FAIL_WORDS:
        return "failed"
    return "passed" if key != "passed" and word in PASS_WORDS else "unknown"


def _scan_findings(scan: dict[str, Any]) -> tuple[list[Any], list[str], int]:
    """The findings, the problems reading them, and how many findings: the largest tally of any one view of them
    (each finding field, each summary, the severity keys together, the ``*_count`` keys together), since views overlap."""
    found: list[Any] = []
    problems: list[str] = []
    tallies: dict[str, int] = {}
    counts = sorted(k for k in scan if _count_key(k))
    for key in (*FINDING_FIELDS, *SUMMARIES, *SEVERITIES, *counts):
        if key in scan:
            view = "severities" if key in SEVERITIES else "counts" if key in counts else key
            by_severity = key in FINDING_FIELDS or key in SUMMARIES
            tally = _findings(f"security_scan.{key}", scan[key], found, problems, by_severity=by_severity)
            tallies[view] = tallies.get(view, 0) + tally
    return found, problems, max(tallies.values(), default=0)


def _findings(where: str, value: Any, found: list[Any], problems: list[str], *, by_severity: bool) -> int:
    """A count, a list of findings, or (one level) a mapping of severity to either; returns how many findings."""
    if isinstance(value, list):
        found += value
        return len(value)
    if isinstance(value, dict) and by_severity:
        return sum(_findings(f"{where}.{severity}", inner, found, problems, by_severity=False) for severity, inner in value.items())
    count = _whole_number(value)
    if count is None or count < 0:
        problems.append(f"{where} is {shown(value)}, not a count of findings")
        return 0
    if count:
        found.append(f"{where.removeprefix('security_scan.')}: {count}")
    return count


def blockers(value: Any) -> list[Any]:
    """The non-empty items of a ``blockers`` field (a lone value counts as one item)."""
    return [item for item in as_list(value) if not _empty(item)]


def _empty(item: Any) -> bool:
    if item is None or item is False or (isinstance(item, int | float) and item == 0):
        return True
    return (isinstance(item, str) and not item.strip()) or (isinstance(item, list | dict) and not item)


def describe(item: Any) -> str:
    """One finding or blocker as one line: the identifying fields of a mapping, else the value itself."""
    if isinstance(item, str):
        return one_line(item)
    if isinstance(item, dict):
        keys = ("id", "cve", "severity", "package", "file", "line", "title", "issue", "description", "blocker", "reason")
        parts = [f"{k}={item[k]}" for k in keys if isinstance(item.get(k), str | int | float) and not isinstance(item[k], bool)]
        if parts:
            return one_line(", ".join(parts))
    return shown(item)


class Service(Lenient):
    name: str | None = text()
    port: Any = raw()
    endpoints: list[Any] = items()
    dependencies: list[Any] = items()
    metrics_endpoint: str | None = text()


class Implementation(Lenient):
    epic_id: str | None = text()
    iteration: Any = raw()
    tasks_completed: list[Any] = items()
    code_metrics: dict[str, Any] = mapping()
    deviations: list[Any] = items()
    blockers: list[Any] = items()
    service: Service | None = view(Service)

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Every file the tasks created or modified, computed once (a 13 MB implementation.json lists 80,000)."""
        return task_files(self.tasks_completed)

    def declared_endpoints(self) -> list[str]:
        """Endpoints the developer declared (``service.endpoints`` or top-level ``endpoints``)."""
        listed = list(self.service.endpoints) if self.service else []
        return declared_endpoints(listed + as_list(self.extra.get("endpoints")))


class RollbackPlan(Lenient):
    trigger_conditions: list[Any] = items()
    procedure: list[Any] = items()
    time_to_rollback: Any = raw()


class Risk(Lenient):
    risk: str | None = text()
    likelihood: str | None = status()
    impact: str | None = status()
    mitigation: str | None = text()


class Plan(Lenient):
    epic_id: str | None = text()
    iteration: Any = raw()
    stages: list[Any] = items()
    test_strategy: dict[str, Any] = mapping()
    rollback_plan: RollbackPlan | None = view(RollbackPlan)
    risks: list[Risk] = views(Risk)

    def test_cases(self) -> list[str]:
        cases: list[str] = []
        for stage in self.stages:
            for task in stage.get("tasks", []) if isinstance(stage, dict) else []:
                spec = task.get("test_spec") if isinstance(task, dict) else None
                if isinstance(spec, dict):
                    cases += [c for c in as_list(spec.get("test_cases")) if isinstance(c, str)]
        return cases


class EpicState(Lenient):
    epic_id: str | None = text()
    title: str | None = text()
    iteration: Any = raw()
    current_iteration: Any = raw()

    @property
    def raw_iteration(self) -> Any:
        return self.iteration if self.iteration is not None else self.current_iteration


class Message(Lenient):
    """An inbox message, normalised from the YAML form or the legacy JSON header/body form."""

    # ``file`` keeps the name's bytes (surrogateescape) for archiving; a dump (the prompt) gets text that encodes.
    file: str = file_name()
    sender: str | None = text("from")
    recipient: str | None = text("to")
    timestamp: str | None = text()
    epic_id: str | None = text()
    iteration: int | None = iteration()
    type: str | None = status()
    subject: str | None = text()
    content: Any = raw()
    action_needed: str | None = text()

    @property
    def label(self) -> str:
        """The file name safe to print or put in prompt markup (the name itself may hold undecodable bytes)."""
        return printable(self.file)

    @classmethod
    def from_document(cls, file: str, data: dict[str, Any]) -> Message:
        """The message; ``ValueError`` when what the gates read of it is ambiguous (a header and top-level fields both,
        a field in another spelling) or not text (``type: !!binary …``): such a message is unreadable, not skipped over."""
        legacy = isinstance(data.get("header"), dict)
        if legacy and any(word(key) in _GATE_READS for key in data):
            raise ValueError("it has a header and top-level from/type/epic_id/iteration both; which one counts is ambiguous")
        _readable(data["header"] if legacy else data)
        if legacy:
            header, body = data["header"], data.get("body")
            body = body if isinstance(body, dict) else {"text": body}
            return cls.read(
                {
                    **header,
                    "file": file,
                    "subject": body.get("subject"),
                    "content": {k: v for k, v in body.items() if k not in {"subject", "action_needed"}},
                    "action_needed": body.get("action_needed"),
                }
            )
        return cls.read({**data, "file": file})


_GATE_READS = {"from": "sender", "type": "type", "epic_id": "epic id", "iteration": "iteration"}


def _readable(fields: dict[Any, Any]) -> None:
    """Refuse what the gates could misread in a message: a field they read spelled another way, or given as anything
    but text (a number for an epic id or an iteration is text too)."""
    for key, value in fields.items():
        name = word(key)
        if name not in _GATE_READS:
            continue
        if key != name:
            raise ValueError(f"{key!r} is the {_GATE_READS[name]} spelled another way; which one counts is ambiguous")
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
            raise ValueError(f"{key!r} is not text")
