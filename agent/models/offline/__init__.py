"""The offline backend: the deterministic planner, answering as a model would, with tool calls."""

from __future__ import annotations

from typing import Any

from agent.artifacts import Approve, Decision
from agent.inputs import Inputs
from agent.models import ModelResponse, Progress, Usage
from agent.models.offline import planner


class OfflineModel:
    """Answers every request with the planner's decision; makes no network request and reads no prompt.

    When the request offers the draft tools, the draft already is the planner's work, so the
    answer is a lone ``submit_decision`` accepting it; otherwise every artifact is written in full.
    """

    name = "offline"
    reads_prompt = False

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self.decision: Decision | None = None

    def plan(self) -> Decision:
        """The planner's decision, planned once (it is also the draft the conversation stages); an approval with
        conditions is vetoed, as nothing here can weigh them."""
        if self.decision is None:
            self.decision = planner.unverifiable_conditions(self.inputs) or planner.plan(self.inputs)
        return self.decision

    def send(self, request: dict[str, Any], progress: Progress | None = None) -> ModelResponse:
        decision = self.plan()
        drafted = any(t.get("name") == "edit_deployment" for t in request.get("tools", []))
        calls = [] if drafted else _writes(decision)
        calls.append(("submit_decision", {"decision": decision.kind, "reason": decision.reason}))
        blocks = [{"type": "tool_use", "id": f"offline_{i}", "name": name, "input": data} for i, (name, data) in enumerate(calls)]
        return ModelResponse(blocks, "tool_use", Usage(), requests=0)

    def count_tokens(self, model: str, text: str) -> int | None:
        return None


def _writes(decision: Decision) -> list[tuple[str, Any]]:
    if isinstance(decision, Approve):
        return [
            ("write_deployment", decision.deployment),
            ("write_cicd", {"content": decision.cicd}),
            ("write_runbook", {"content": decision.runbook}),
        ]
    return [("write_veto", {"subject": decision.subject, "content": decision.content, "action_needed": decision.action_needed})]
