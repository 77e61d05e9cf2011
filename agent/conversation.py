"""The tool loop: send, validate every tool input as it arrives, feed errors back, stop at a decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.artifacts import Approve, Decision, Veto, stamp_deployment, veto_stamps
from agent.errors import ModelStopError, OutputInvalidError
from agent.models import Model, ModelResponse, ToolCall, Usage
from agent.prompting.tools import TOOL_NAMES
from agent.validation import (
    Bundle,
    Violation,
    check_bundle,
    check_cicd,
    check_deployment,
    check_runbook,
    check_veto,
    errors,
    schemas,
)
from agent.workspace import Inputs

NUDGE = (
    "Reply with tool calls only: stage the artifacts (write_deployment, write_cicd, write_runbook) "
    "or a veto (write_veto), then call submit_decision."
)
TRUNCATED = (
    "Your reply was cut off at max_tokens. Keep thinking short and send fewer, complete tool "
    "calls per reply; anything staged before is kept."
)


@dataclass
class Staged:
    deployment: dict[str, Any] | None = None
    cicd: str | None = None
    runbook: str | None = None
    veto: Veto | None = None
    rejected: dict[str, list[Violation]] = field(default_factory=dict)


@dataclass
class Stats:
    turns: int = 0
    requests: int = 0
    usage: Usage = field(default_factory=Usage)


class Conversation:
    def __init__(
        self,
        model: Model,
        inputs: Inputs,
        request: dict[str, Any],
        moment: datetime,
        *,
        max_turns: int,
        log: Callable[[str], None],
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        self.model, self.inputs, self.request, self.moment = model, inputs, request, moment
        self.max_turns, self.log, self.record = max_turns, log, record
        self.staged = Staged()
        self.stats = Stats()
        self.declared = inputs.implementation.declared_endpoints()

    def run(self) -> Decision:
        messages = list(self.request["messages"])
        while self.stats.turns < self.max_turns:
            self.stats.turns += 1
            response = self._send(messages)
            messages.append({"role": "assistant", "content": response.content})
            if response.stop_reason == "pause_turn":
                continue
            self._refuse_on_stop(response)
            results, decision = self._handle(response.tool_calls)
            if decision is not None:
                return decision
            if response.stop_reason == "max_tokens":
                results.append({"type": "text", "text": TRUNCATED})
            elif not results:
                results.append({"type": "text", "text": NUDGE})
            messages.append({"role": "user", "content": results})
        raise OutputInvalidError(self.stats.turns, self._problems())

    def _send(self, messages: list[dict[str, Any]]) -> ModelResponse:
        try:
            response = self.model.send({**self.request, "messages": messages})
        except Exception as err:
            self.stats.requests += getattr(err, "requests", 0)
            self.record({"turn": self.stats.turns, "error": str(err)})
            raise
        self.stats.requests += response.requests
        self.stats.usage += response.usage
        self.record(
            {
                "turn": self.stats.turns,
                "stop_reason": response.stop_reason,
                "usage": response.usage.to_dict(),
                "response": response.content,
            }
        )
        return response

    def _refuse_on_stop(self, response: ModelResponse) -> None:
        if response.stop_reason == "refusal":
            raise ModelStopError("the model refused to answer (stop_reason refusal); nothing written", stop_reason="refusal")
        if response.stop_reason == "model_context_window_exceeded":
            raise ModelStopError(
                "the request exceeds the model's context window; lower --max-input-tokens",
                stop_reason="model_context_window_exceeded",
            )

    def _handle(self, calls: list[ToolCall]) -> tuple[list[dict[str, Any]], Decision | None]:
        """Tool results in call order; decisions are judged after every write in the reply."""
        ordered = sorted(calls, key=lambda c: c.name == "submit_decision")
        outcomes: dict[str, tuple[str, bool]] = {}
        decision: Decision | None = None
        for call in ordered:
            if call.name == "submit_decision":
                text, ok, decision = self._submit(call.input)
            else:
                text, ok = self._write(call)
            outcomes[call.id] = (text, ok)
            self.record({"turn": self.stats.turns, "tool": call.name, "accepted": ok, "result": text})
            self.log(f"turn {self.stats.turns}: {call.name} {'accepted' if ok else 'rejected'}")
        results = [
            {
                "type": "tool_result",
                "tool_use_id": c.id,
                "content": outcomes[c.id][0],
                **({} if outcomes[c.id][1] else {"is_error": True}),
            }
            for c in calls
        ]
        return results, decision

    def _write(self, call: ToolCall) -> tuple[str, bool]:
        if call.name not in TOOL_NAMES:
            return f"Unknown tool {call.name!r}; the tools are: {', '.join(TOOL_NAMES)}.", False
        data = call.input if isinstance(call.input, dict) else {}
        found: list[Violation]
        if call.name == "write_deployment":
            document = stamp_deployment(data, self.inputs, self.moment)
            found = check_deployment(document, self.declared)
            staged_value: Any = document
        elif call.name in {"write_cicd", "write_runbook"}:
            found = schemas.check("text_artifact", call.input, call.name)
            content = str(data.get("content") or "")
            if not found:
                found = check_cicd(content) if call.name == "write_cicd" else check_runbook(content, self.staged.deployment)
            staged_value = content
        else:
            message = {**data, **veto_stamps(self.inputs, self.moment)}
            found = check_veto(message, "write_veto")
            staged_value = Veto(str(data.get("subject")), data.get("content") or {}, str(data.get("action_needed")))
        return self._stage(call.name, staged_value, found)

    def _stage(self, tool: str, value: Any, found: list[Violation]) -> tuple[str, bool]:
        blocking = errors(found)
        if blocking:
            self.staged.rejected[tool] = blocking
            return _rejection(tool, blocking), False
        self.staged.rejected.pop(tool, None)
        attr = {
            "write_deployment": "deployment",
            "write_cicd": "cicd",
            "write_runbook": "runbook",
            "write_veto": "veto",
        }[tool]
        setattr(self.staged, attr, value)
        warnings = [v for v in found if v.severity == "warning"]
        note = "".join(f"\n- warning {v.path} [{v.rule}]: {v.message}" for v in warnings)
        return f"{tool}: staged, valid.{note}", True

    def _submit(self, raw: Any) -> tuple[str, bool, Decision | None]:
        found = schemas.check("submit_decision", raw, "submit_decision")
        if found:
            return _rejection("submit_decision", found), False, None
        reason = str(raw["reason"])
        if raw["decision"] == "veto":
            if self.staged.veto is None:
                return "submit_decision rejected: no valid veto is staged; call write_veto first.", False, None
            return (
                "Veto accepted.",
                True,
                Veto(self.staged.veto.subject, self.staged.veto.content, self.staged.veto.action_needed, reason=reason),
            )
        bundle = Bundle(self.staged.deployment, self.staged.cicd, self.staged.runbook)
        blocking = errors(check_bundle(bundle, self.declared))
        if blocking:
            self.staged.rejected["submit_decision"] = blocking
            return _rejection("submit_decision", blocking), False, None
        assert bundle.deployment is not None and bundle.cicd is not None and bundle.runbook is not None
        return "Approval accepted.", True, Approve(bundle.deployment, bundle.cicd, bundle.runbook, reason=reason)

    def _problems(self) -> list[str]:
        problems = [f"{tool}: {v}" for tool, found in self.staged.rejected.items() for v in found]
        return problems or ["no decision was submitted"]


def _rejection(tool: str, found: list[Violation]) -> str:
    lines = [f"{tool} rejected: {len(found)} violation(s). Fix every one and call {tool} again with the complete corrected input."]
    lines += [f"- {v.artifact} {v.path} [{v.rule}]: {v.message}" for v in found]
    return "\n".join(lines)
