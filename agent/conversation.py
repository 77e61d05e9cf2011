"""The tool loop: send, validate every tool input as it arrives, feed errors back, stop at a decision.

What a reply may stage, and how submit_decision is judged, is ``agent.staging``; this module is the
turn-taking around it: what is sent back to the API (never an empty or thinking-final assistant turn),
where nudges go (after the tool results), and what happens when a reply is cut off at max_tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.artifacts import Decision
from agent.errors import ModelStopError, OutputInvalidError
from agent.inputs import Inputs
from agent.models import Model, ModelResponse, Progress, Usage
from agent.staging import Stage

THINKING = {"thinking", "redacted_thinking"}
MAX_TOKENS_CEILING = 64_000
"""The most a re-ask after a max_tokens cut-off will allow (doubling from --max-tokens)."""
LOWER_EFFORT = {"max": "xhigh", "xhigh": "high", "high": "medium", "medium": "low"}
NUDGE = (
    "Reply with tool calls only, all in this one reply: stage or edit the artifacts (or write_veto), "
    "then call submit_decision last."
)
CUT_OFF = "{tool} was cut off by max_tokens: its input is incomplete, so it was not validated or staged. Send it again, complete."
AGAIN = "submit_decision ignored: a decision was already accepted in this reply."
UNJUDGED = "submit_decision was not judged: the reply was cut off by max_tokens. Send it again after the missing calls."


class Stats:
    """What a conversation has cost so far: replies, requests sent (retries included) and tokens."""

    def __init__(self) -> None:
        self.turns = 0
        self.requests = 0
        self.usage = Usage()


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
        draft: Decision | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.model, self.request = model, dict(request)
        self.max_turns, self.log, self.record, self.progress = max_turns, log, record, progress
        # The offline planner's output is checked by the real linters in the project's tests; a model's, on every call.
        self.stage = Stage(inputs, moment, {t["name"] for t in request.get("tools", [])}, external=model.reads_prompt)
        self.stats = Stats()
        if draft is not None:
            # The offline planner accepts its own draft; submit_decision checks the set either way.
            self.stage.stage_draft(draft, log, check=model.reads_prompt)

    def run(self) -> Decision:
        messages = list(self.request["messages"])
        while self.stats.turns < self.max_turns:
            self.stats.turns += 1
            response = self._send(messages)
            self._stop_on(response)
            echo = _echoable(response.content)
            if echo:
                messages.append({"role": "assistant", "content": echo})
            if response.stop_reason == "pause_turn" and echo and not response.tool_calls:
                continue  # the API's instruction: send the paused turn back as it is
            truncated = response.stop_reason == "max_tokens"
            results, decision = self._handle(response, truncated)
            if decision is not None:
                self._finish(decision)
                return decision
            note = self._more_room() if truncated else (NUDGE if not results else "")
            _append_user(messages, results + ([{"type": "text", "text": note}] if note else []))
        raise OutputInvalidError(self.stats.turns, self.stage.problems() or ["no decision was submitted"])

    def _send(self, messages: list[dict[str, Any]]) -> ModelResponse:
        try:
            response = self.model.send({**self.request, "messages": messages}, self.progress)
        except Exception as err:
            self.stats.requests += getattr(err, "requests", 0)
            self.record({"turn": self.stats.turns, "error": str(err)})
            raise
        self.stats.requests += response.requests
        self.stats.usage += response.usage
        self.record(
            {
                "turn": self.stats.turns,
                "max_tokens": self.request.get("max_tokens"),
                "effort": self.request.get("output_config", {}).get("effort"),
                "stop_reason": response.stop_reason,
                "stop_details": response.stop_details,
                "usage": response.usage.to_dict(),
                "response": response.content,
            }
        )
        return response

    def _stop_on(self, response: ModelResponse) -> None:
        if response.stop_reason == "refusal":
            details = response.stop_details or {}
            why = ": ".join(str(details[k]) for k in ("category", "explanation") if details.get(k))
            raise ModelStopError(
                f"the model refused to answer (stop_reason refusal{'; ' + why if why else ''}); nothing written", stop_reason="refusal"
            )
        if response.stop_reason == "model_context_window_exceeded":
            raise ModelStopError(
                "the request exceeds the model's context window; lower --max-input-tokens", stop_reason="model_context_window_exceeded"
            )

    def _more_room(self) -> str:
        """After a max_tokens cut-off: double the room (up to the ceiling), else lower the effort; say which."""
        before = int(self.request["max_tokens"])
        effort = self.request.get("output_config", {}).get("effort")
        if before < MAX_TOKENS_CEILING:
            self.request["max_tokens"] = min(before * 2, MAX_TOKENS_CEILING)
            change = f"this request allows {self.request['max_tokens']:,} output tokens"
        elif effort in LOWER_EFFORT:
            self.request["output_config"] = {**self.request["output_config"], "effort": LOWER_EFFORT[effort]}
            change = f"effort is lowered from {effort} to {LOWER_EFFORT[effort]} to leave room for the output"
        else:
            change = "think less and prefer the edit tools to writing artifacts in full"
        self.log(f"turn {self.stats.turns}: reply cut off at max_tokens ({before:,}); re-asking: {change}")
        return (
            f"Your reply was cut off at max_tokens ({before:,} tokens, thinking included). Complete calls were "
            f"validated as usual; a cut-off call was not staged. Now {change}. Send what is missing, complete, "
            "and submit_decision last, in this one reply."
        )

    def _handle(self, response: ModelResponse, truncated: bool) -> tuple[list[dict[str, Any]], Decision | None]:
        """Tool results in call order; submit_decision is judged after every write in the reply."""
        calls = response.tool_calls
        last = response.content[-1] if response.content else {}
        cut = last.get("id") if truncated and last.get("type") == "tool_use" else None
        outcomes: dict[str, tuple[str, bool]] = {}
        decision: Decision | None = None
        for call in sorted(calls, key=lambda c: c.name == "submit_decision"):
            if call.id == cut:
                text, ok = CUT_OFF.format(tool=call.name), False
            elif call.name == "submit_decision" and truncated:
                text, ok = UNJUDGED, False
            elif call.name == "submit_decision":
                text, ok, judged = (AGAIN, False, None) if decision else self.stage.submit(call.input)
                decision = decision or judged
            else:
                text, ok = self.stage.call(call)
            outcomes[call.id] = (text, ok)
            self.record({"turn": self.stats.turns, "tool": call.name, "accepted": ok, "result": text})
            self.log(f"turn {self.stats.turns}: {call.name} {'accepted' if ok else 'rejected'}")
        results = [
            {"type": "tool_result", "tool_use_id": c.id, "content": outcomes[c.id][0], **({} if outcomes[c.id][1] else {"is_error": True})}
            for c in calls
        ]
        return results, decision

    def provenance(self, decision: Decision) -> dict[str, str]:
        return self.stage.provenance(decision)

    def _finish(self, decision: Decision) -> None:
        provenance = self.provenance(decision)
        self.record({"turn": self.stats.turns, "decision": decision.kind, "provenance": provenance})
        self.log(f"{decision.kind}: " + "; ".join(f"{name} {how}" for name, how in provenance.items()))


def _echoable(content: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The reply as it may go back to the API: no empty text blocks, and never ending in thinking
    (a cut-off thinking block has no signature; the API rejects a final thinking block and an empty turn)."""
    blocks = [b for b in content if not (b["type"] == "text" and not str(b.get("text", "")).strip())]
    while blocks and blocks[-1]["type"] in THINKING:
        blocks.pop()
    return blocks or None


def _append_user(messages: list[dict[str, Any]], content: list[dict[str, Any]]) -> None:
    """Tool results first, then text; merged into the last user turn when the reply could not be echoed."""
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": [*messages[-1]["content"], *content]}
    else:
        messages.append({"role": "user", "content": content})
