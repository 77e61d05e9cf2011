"""What a run decides (an approval with its artifacts, or a veto to quality) and the fields the agent stamps on them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import yaml

if TYPE_CHECKING:
    from agent.inputs import Inputs


class Approve(NamedTuple):
    deployment: dict[str, Any]
    cicd: str
    runbook: str
    reason: str = ""
    kind: Literal["approve"] = "approve"
    derived: Mapping[str, str] = MappingProxyType({})
    """Files rendered from the plan (manifests, alert rules), by path relative to ``artifacts/``."""


class Veto(NamedTuple):
    subject: str
    content: dict[str, Any]
    action_needed: str
    reason: str = ""
    kind: Literal["veto"] = "veto"
    source: str = "model"


Decision = Approve | Veto


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_deployment(body: dict[str, Any], inputs: Inputs, moment: datetime) -> dict[str, Any]:
    return {
        "epic_id": inputs.epic_id,
        "iteration": inputs.iteration,
        "timestamp": iso(moment),
        **{k: v for k, v in body.items() if k not in {"epic_id", "iteration", "timestamp"}},
    }


def veto_stamps(inputs: Inputs, moment: datetime) -> dict[str, Any]:
    """The envelope fields of a veto message, which the agent sets and the model never does."""
    return {
        "from": "devops",
        "to": "quality",
        "timestamp": iso(moment),
        "epic_id": inputs.epic_id,
        "iteration": inputs.iteration,
        "type": "veto",
    }


def veto_message(veto: Veto, inputs: Inputs, moment: datetime) -> dict[str, Any]:
    return {
        **veto_stamps(inputs, moment),
        "subject": veto.subject,
        "content": veto.content,
        "action_needed": veto.action_needed,
    }


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
