"""What a run decides: an approval with its three artifacts, or a veto to quality."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Approve:
    deployment: dict[str, Any]
    cicd: str
    runbook: str
    reason: str = ""
    kind: Literal["approve"] = "approve"


@dataclass(frozen=True)
class Veto:
    subject: str
    content: dict[str, Any]
    action_needed: str
    reason: str = ""
    kind: Literal["veto"] = "veto"
    source: str = "model"
    extra: dict[str, Any] = field(default_factory=dict)


Decision = Approve | Veto
