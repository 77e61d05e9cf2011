"""Typed, lenient views of what upstream agents write: review, implementation, plan, messages.

Upstream agents are LLMs: unknown fields are kept (``extra="allow"``), optional
fields may be missing, and values are coerced only where that is unambiguous
(``"2"`` → 2 for an iteration; ``"current"`` → unknown).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _to_iteration(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _to_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _to_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no"}:
        return False
    return None


def _to_status(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) else None


Iteration = Annotated[int | None, BeforeValidator(_to_iteration)]
Text = Annotated[str | None, BeforeValidator(_to_text)]
Items = Annotated[list[Any], BeforeValidator(_to_list)]
Flag = Annotated[bool | None, BeforeValidator(_to_bool)]
Status = Annotated[str | None, BeforeValidator(_to_status)]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Approval(Lenient):
    status: Status = None
    conditions: Items = Field(default_factory=list)
    merge_ready: Flag = None


class SecurityScan(Lenient):
    vulnerabilities_found: Any = None
    warnings: Items = Field(default_factory=list)
    passed: Flag = None

    @property
    def findings(self) -> list[Any]:
        """Vulnerabilities given as a list of findings (an integer count gives none)."""
        return self.vulnerabilities_found if isinstance(self.vulnerabilities_found, list) else []

    @property
    def vulnerability_count(self) -> int:
        value = self.vulnerabilities_found
        if isinstance(value, list):
            return len(value)
        if isinstance(value, bool) or value is None:
            return int(bool(value))
        if isinstance(value, int | float):
            return max(int(value), 0)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return 1 if isinstance(value, str) and value.strip() else 0


class Review(Lenient):
    epic_id: Text = None
    iteration: Iteration = None
    timestamp: Text = None
    review_status: Status = None
    approval: Approval | None = None
    security_scan: SecurityScan | None = None
    three_pass_review: dict[str, Any] = Field(default_factory=dict)
    test_analysis: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


_ENDPOINT = re.compile(r"(?:^|\s)(/[A-Za-z0-9._~/{}:-]*)")


def endpoint_path(value: Any) -> str | None:
    """``"/health"``, ``"GET /health"`` or ``{"path": "/health"}`` → ``"/health"``."""
    if isinstance(value, dict):
        value = value.get("path") or value.get("endpoint") or value.get("route")
    if not isinstance(value, str):
        return None
    match = _ENDPOINT.search(value.strip())
    return match.group(1).rstrip("/") or "/" if match else None


class Service(Lenient):
    name: Text = None
    port: Any = None
    endpoints: Items = Field(default_factory=list)
    dependencies: Items = Field(default_factory=list)
    metrics_endpoint: Text = None


class Task(Lenient):
    task_id: Text = None
    status: Text = None
    files_created: Items = Field(default_factory=list)
    files_modified: Items = Field(default_factory=list)


class Implementation(Lenient):
    epic_id: Text = None
    iteration: Iteration = None
    tasks_completed: Items = Field(default_factory=list)
    code_metrics: dict[str, Any] = Field(default_factory=dict)
    deviations: Items = Field(default_factory=list)
    blockers: Items = Field(default_factory=list)
    service: Service | None = None

    def tasks(self) -> list[Task]:
        return [Task.model_validate(t) for t in self.tasks_completed if isinstance(t, dict)]

    def files(self) -> list[str]:
        found: list[str] = []
        for task in self.tasks():
            found += [f for f in task.files_created + task.files_modified if isinstance(f, str)]
        return found

    def declared_endpoints(self) -> list[str]:
        """Endpoints the developer declared (``service.endpoints`` or top-level ``endpoints``)."""
        raw = list(self.service.endpoints) if self.service else []
        extra = self.model_extra or {}
        raw += _to_list(extra.get("endpoints"))
        paths = [endpoint_path(item) for item in raw]
        return sorted({p for p in paths if p})


class RollbackPlan(Lenient):
    trigger_conditions: Items = Field(default_factory=list)
    procedure: Items = Field(default_factory=list)
    time_to_rollback: Any = None


class Risk(Lenient):
    risk: Text = None
    likelihood: Status = None
    impact: Status = None
    mitigation: Text = None


class Plan(Lenient):
    epic_id: Text = None
    iteration: Iteration = None
    stages: Items = Field(default_factory=list)
    test_strategy: dict[str, Any] = Field(default_factory=dict)
    rollback_plan: RollbackPlan | None = None
    risks: list[Risk] = Field(default_factory=list)

    def test_cases(self) -> list[str]:
        cases: list[str] = []
        for stage in self.stages:
            for task in stage.get("tasks", []) if isinstance(stage, dict) else []:
                spec = task.get("test_spec") if isinstance(task, dict) else None
                if isinstance(spec, dict):
                    cases += [c for c in _to_list(spec.get("test_cases")) if isinstance(c, str)]
        return cases


class EpicState(Lenient):
    epic_id: Text = None
    title: Text = None
    iteration: Iteration = None
    current_iteration: Iteration = None


class Message(Lenient):
    """An inbox message, normalised from the YAML form or the legacy JSON header/body form."""

    file: str
    sender: Text = Field(default=None, alias="from")
    recipient: Text = Field(default=None, alias="to")
    timestamp: Text = None
    epic_id: Text = None
    iteration: Iteration = None
    type: Status = None
    subject: Text = None
    content: Any = None
    action_needed: Text = None

    @classmethod
    def from_document(cls, file: str, data: dict[str, Any]) -> Message:
        if isinstance(data.get("header"), dict):
            header, body = data["header"], data.get("body")
            body = body if isinstance(body, dict) else {"text": body}
            return cls.model_validate(
                {
                    **header,
                    "file": file,
                    "subject": body.get("subject"),
                    "content": {k: v for k, v in body.items() if k not in {"subject", "action_needed"}},
                    "action_needed": body.get("action_needed"),
                }
            )
        return cls.model_validate({**data, "file": file})
