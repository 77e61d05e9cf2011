"""The offline backend: the deterministic planner, answering as a model would, with tool calls."""

from __future__ import annotations

from typing import Any

from agent.artifacts import Approve
from agent.models import ModelResponse, Usage
from agent.models.offline import planner
from agent.workspace import Inputs


class OfflineModel:
    """Answers every request with the planner's decision; makes no network request."""

    name = "offline"

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs

    def send(self, request: dict[str, Any]) -> ModelResponse:
        decision = planner.plan(self.inputs)
        if isinstance(decision, Approve):
            calls: list[tuple[str, Any]] = [
                ("write_deployment", decision.deployment),
                ("write_cicd", {"content": decision.cicd}),
                ("write_runbook", {"content": decision.runbook}),
                ("submit_decision", {"decision": "approve", "reason": decision.reason}),
            ]
        else:
            calls = [
                (
                    "write_veto",
                    {"subject": decision.subject, "content": decision.content, "action_needed": decision.action_needed},
                ),
                ("submit_decision", {"decision": "veto", "reason": decision.reason}),
            ]
        blocks = [{"type": "tool_use", "id": f"offline_{i}", "name": name, "input": data} for i, (name, data) in enumerate(calls)]
        return ModelResponse(blocks, "tool_use", Usage(), requests=0)
