"""Hand-written model replies for the recordings in fixtures/recordings/, and the one command that regenerates them.

No API key is available where this project is built, so every *response* here is written by hand
in the Messages API's streaming wire format as API version 2026-10-21 sends it (server-sent events;
summarised thinking with a signature; usage that differs per turn, with cache reads on later turns;
``stop_details`` on a refusal). No real model run has been made. The *requests* are what the agent
really sends, captured by running it through the real ``anthropic`` client against these replies.
Regenerate after any change to a prompt, a tool, the planner, a schema or the fixture workspace:

    python -m tests.scenarios --write
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from agent.artifacts import Approve
from agent.inputs import load
from agent.models import ModelResponse, Progress, Usage
from agent.models.anthropic import AnthropicModel
from agent.models.offline import planner
from agent.models.recording import FORMAT, RecordingTransport
from agent.models.retry import RetryPolicy
from agent.options import parser, run_options
from agent.runner import Runner
from agent.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
RECORDINGS = ROOT / "fixtures" / "recordings"
MODEL = "claude-sonnet-5-5"
CHARS_PER_TOKEN = 2.6
"""How the fake server sizes requests for its usage figures (the agent's calibrated estimate)."""
TOKENIZER_CHARS_PER_TOKEN = 2.0
"""How its count_tokens answers: denser than the agent's estimate, so counting visibly corrects it."""
NOTE = (
    "Responses hand-written in the Messages API streaming wire format (no API key here; no real model run); "
    "requests captured from the agent through the real anthropic client. Regenerate: python -m tests.scenarios --write"
)


# ---------------------------------------------------------------- reply blocks


@dataclass
class Reply:
    """One hand-written answer: content blocks streamed as SSE, or an HTTP error, or a broken stream."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop: str = "tool_use"
    stop_details: dict[str, Any] | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    """The error body (status != 200), or the ``event: error`` that ends a 200 stream."""
    stall_after: int | None = None
    """Events sent before the stream goes silent (the agent's idle timeout then fires)."""


@dataclass
class Scenario:
    replies: list[Reply]
    expect: str
    flags: list[str] = field(default_factory=list)


def thinking(text: str, *, cut: bool = False) -> dict[str, Any]:
    """Summarised thinking; a cut one (max_tokens mid-thought) never got its signature."""
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest() * 3).decode()
    return {"type": "thinking", "thinking": text, "signature": "" if cut else f"EuYBCkgIBxABGAIqQ{digest}"}


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": body}


def tool(n: int, name: str, data: Any, *, cut_at: int | None = None) -> dict[str, Any]:
    """A tool call; ``cut_at`` streams only that many characters of its JSON (a max_tokens cut-off)."""
    block = {"type": "tool_use", "id": f"toolu_fixture_{n:02d}", "name": name, "input": data}
    return block | ({"cut_at": cut_at} if cut_at is not None else {})


# ---------------------------------------------------------------- the wire format


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def _chunks(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    kind = block["type"]
    start: dict[str, Any]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"], 120)]
        deltas += [{"type": "signature_delta", "signature": block["signature"]}] if block["signature"] else []
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"], 120)]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}, "caller": {"type": "direct"}}
        raw = json.dumps(block["input"], ensure_ascii=False)[: block.get("cut_at")]
        deltas = [{"type": "input_json_delta", "partial_json": c} for c in ["", *_chunks(raw, 256)]]
    events = [_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events += [_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    return [*events, _event("content_block_stop", {"type": "content_block_stop", "index": index})]


def _output_tokens(blocks: list[dict[str, Any]]) -> tuple[int, int]:
    """(output, thinking) tokens: raw reasoning runs about four times its summary."""
    thought = sum(math.ceil(len(b["thinking"]) / 3.5) * 4 for b in blocks if b["type"] == "thinking")
    rest = sum(math.ceil(len(json.dumps(b.get("input", b.get("text", "")))) / 3.0) for b in blocks if b["type"] != "thinking")
    return thought + rest + 1, thought


def sse(reply: Reply, n: int, usage: dict[str, int]) -> list[bytes]:
    """The reply as the API streams it: message_start, each block, pings, message_delta, message_stop."""
    output, thought = _output_tokens(reply.blocks)
    message: dict[str, Any] = {
        "id": f"msg_fixture_{n:02d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": usage | {"cache_creation": {"ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
                                             "ephemeral_1h_input_tokens": 0}, "output_tokens": 1, "service_tier": "standard"},
    }
    events = [_event("message_start", {"type": "message_start", "message": message}), _event("ping", {"type": "ping"})]
    for index, block in enumerate(reply.blocks):
        events += _block_events(index, block)
    if reply.error is not None:
        return [*events, _event("error", reply.error)]
    delta = {"stop_reason": reply.stop, "stop_sequence": None, "stop_details": reply.stop_details}
    final = usage | {"output_tokens": output, "output_tokens_details": {"thinking_tokens": thought}}
    events.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": final}))
    return [*events, _event("message_stop", {"type": "message_stop"})]


class _Events(httpx2.SyncByteStream):
    def __init__(self, events: list[bytes], stall_after: int | None, request: httpx2.Request) -> None:
        self.events, self.stall_after, self.request = events, stall_after, request

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events[: self.stall_after]
        if self.stall_after is not None:
            raise httpx2.ReadTimeout("no bytes within the idle timeout", request=self.request)


class Upstream(httpx2.BaseTransport):
    """A fake Messages API: serves the scenario's replies, sizes usage from each request, answers count_tokens."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies, self.served, self.cached = list(replies), 0, 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read())
        if request.url.path.endswith("/count_tokens"):
            counted = math.ceil(len(body["messages"][0]["content"][0]["text"]) / TOKENIZER_CHARS_PER_TOKEN)
            return httpx2.Response(200, json={"input_tokens": counted}, request=request)
        reply = self.replies.pop(0)
        self.served += 1
        if reply.status != 200:
            return httpx2.Response(reply.status, json=reply.error, request=request)
        headers = {"content-type": "text/event-stream; charset=utf-8", "request-id": f"req_fixture_{self.served:02d}"}
        return httpx2.Response(200, headers=headers, stream=_Events(sse(reply, self.served, self._usage(body)), reply.stall_after, request))

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Automatic caching: everything up to the last block is written; the next turn reads it back."""
        size = len(json.dumps({k: body.get(k) for k in ("system", "tools", "messages")}, separators=(",", ":")))
        total, tail = math.ceil(size / CHARS_PER_TOKEN), 3
        read = min(self.cached, total - tail)
        self.cached = total - tail
        return {"input_tokens": tail, "cache_creation_input_tokens": total - tail - read, "cache_read_input_tokens": read}


class Scripted:
    """A stand-in for the model in loop tests: answers each request with the next scripted reply, keeps the requests."""

    name = "scripted"
    reads_prompt = True

    def __init__(self, *replies: ModelResponse) -> None:
        self.replies, self.requests = list(replies), list[dict[str, Any]]()

    def send(self, request: dict[str, Any], progress: Progress | None = None) -> ModelResponse:
        self.requests.append(json.loads(json.dumps(request)))
        return self.replies.pop(0)

    def count_tokens(self, model: str, text: str) -> int | None:
        return None


def answer(*blocks: dict[str, Any], stop: str = "tool_use") -> ModelResponse:
    return ModelResponse(list(blocks), stop, Usage(input_tokens=10, output_tokens=5))


# ---------------------------------------------------------------- the scenarios


def _approval() -> Approve:
    decision = planner.plan(load(Workspace.locate(EXAMPLE)))
    assert isinstance(decision, Approve), "the example workspace must give the planner an approval"
    return decision


def _writes(first: int, deployment: dict[str, Any], *, cut_runbook: bool = False) -> list[dict[str, Any]]:
    plan = _approval()
    runbook = json.dumps({"content": plan.runbook}, ensure_ascii=False)
    cut = runbook.index("## Contacts") + len("## Contacts") if cut_runbook else None
    return [
        tool(first, "write_deployment", _unstamped(deployment)),
        tool(first + 1, "write_cicd", {"content": plan.cicd}),
        tool(first + 2, "write_runbook", {"content": plan.runbook}, cut_at=cut),
    ]


def _unstamped(deployment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in deployment.items() if k not in {"epic_id", "iteration", "timestamp"}}


def submit(n: int, decision: str = "approve", reason: str = "Health endpoint, rollback and monitoring in place.") -> dict[str, Any]:
    return tool(n, "submit_decision", {"decision": decision, "reason": reason})


def amendment(first: int) -> list[dict[str, Any]]:
    """A typical amendment: one value of the plan and one line of the runbook, a few hundred bytes."""
    plan = _approval()
    heading = "## Monitoring\n"
    assert plan.runbook.count(heading) == 1, "the amendment edits the runbook's one Monitoring heading"
    note = "- **Capacity**: max 6 replicas until the database pool is sized for more (review in the next iteration)\n"
    return [
        tool(first, "edit_deployment", {"operations": [{"op": "replace", "path": "/infrastructure/scaling/max_replicas", "value": 6}]}),
        tool(first + 1, "edit_runbook", {"edits": [{"old": heading, "new": heading + note}]}),
    ]


VETO = {
    "subject": "missing_monitoring",
    "content": {
        "violation": "No metrics endpoint",
        "specifics": "artifacts/implementation.json declares only /health; no /metrics or Prometheus client in the files changed",
        "location": "artifacts/implementation.json: service.endpoints",
        "impact": "Cannot alert on errors or latency in production",
        "requirement": "Expose Prometheus metrics (request count, errors, latency)",
        "suggestion": "Add a /metrics endpoint with prometheus_client",
        "blocking": True,
    },
    "action_needed": "add_metrics_endpoint",
}
REFUSAL = {"type": "refusal", "category": "cyber", "explanation": "This request was refused due to policy."}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_fixture_overloaded"}


def scenarios() -> dict[str, Scenario]:
    good = _approval().deployment
    bad = json.loads(json.dumps(good))
    bad["infrastructure"]["resources_required"]["memory"] = "128m"
    bad["rollback"]["time_to_rollback_seconds"] = 300
    checked = thinking("Quality approved and the scan passed; /health is declared. The draft's blue/green plan fits the medium risks.")
    no_draft = ["--no-draft"]
    return {
        "approve_draft": Scenario([Reply([checked, submit(1)])], "approve"),
        "amend_draft": Scenario([Reply([checked, *amendment(1), submit(3, reason="Draft amended: replicas capped.")])], "approve"),
        "approve_one_reply": Scenario([Reply([checked, *_writes(1, good), submit(4)])], "approve", no_draft),
        "correction_with_thinking": Scenario(
            [
                Reply([thinking("Plan first; memory in m."), *_writes(1, bad), submit(4)]),
                Reply([thinking("Fix memory and rollback time."), tool(5, "write_deployment", _unstamped(good)), submit(6)]),
            ],
            "approve",
            no_draft,
        ),
        "model_veto": Scenario([Reply([thinking("No way to see errors in production."), tool(1, "write_veto", VETO),
                                       submit(2, "veto", "No metrics.")])], "veto"),
        "never_valid": Scenario([Reply([*_writes(1 + 4 * i, bad), submit(4 + 4 * i)]) for i in range(2)], "failed",
                                [*no_draft, "--max-turns", "2"]),
        "text_only_then_approve": Scenario([Reply([text("I will now review the draft.")], "end_turn"), Reply([submit(1)])], "approve"),
        "max_tokens_then_approve": Scenario(
            [
                Reply([thinking("Long plan..."), *_writes(1, good, cut_runbook=True)], "max_tokens"),
                Reply([tool(4, "write_runbook", {"content": _approval().runbook}), submit(5)]),
            ],
            "approve",
            no_draft,
        ),
        "thinking_only_max_tokens": Scenario(
            [Reply([thinking("Weighing canary against blue/green for the medium risks, and the", cut=True)], "max_tokens"),
             Reply([checked, submit(1)])],
            "approve",
        ),
        "refusal": Scenario([Reply([], "refusal", stop_details=REFUSAL)], "failed"),
        "pause_turn": Scenario([Reply([checked, text("Checking the rollback plan against the review.")], "pause_turn"),
                                Reply([submit(1)])], "approve"),
        "context_window_exceeded": Scenario([Reply([thinking("The implementation", cut=True)], "model_context_window_exceeded")], "failed"),
        "stall_then_retry": Scenario([Reply([checked, submit(1)], stall_after=5), Reply([checked, submit(1)])], "approve"),
        "overloaded_mid_stream": Scenario([Reply([checked], error=OVERLOADED), Reply([checked, submit(1)])], "approve"),
        "budget_counted": Scenario([Reply([checked, submit(1)])], "approve", ["--max-input-tokens", "2000"]),
    }


# ---------------------------------------------------------------- recording


@contextmanager
def workspace_copy(source: Path = EXAMPLE) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / source.name
        shutil.copytree(source, target)
        yield target


def record(scenario: Scenario) -> tuple[dict[str, Any], str]:
    """Run the agent against the scenario through the real client; the recording and the decision reached."""
    transport = RecordingTransport(Upstream(scenario.replies))
    with workspace_copy() as ws:
        opts = run_options(parser().parse_args(["run", "--workspace", str(ws), *scenario.flags]))

        def factory(*_: Any) -> AnthropicModel:
            retry = RetryPolicy(max_attempts=opts.max_attempts, sleep=lambda s: None)
            return AnthropicModel(retry=retry, timeout=opts.request_timeout, api_key="sk-fixture-not-a-key", transport=transport)

        runner = Runner(opts, log=lambda line: None, model_factory=factory)
        try:
            decision = runner.run().decision
        except Exception as err:  # a failing scenario ends in an error, which is what it records
            decision = getattr(err, "decision", "failed")
    return {"format": FORMAT, "note": NOTE, "flags": scenario.flags, "exchanges": transport.exchanges}, decision


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--write", action="store_true", help="rewrite every recording in fixtures/recordings/")
    if not args.parse_args().write:
        print("\n".join(scenarios()))
        return
    made = {name: (scenario, *record(scenario)) for name, scenario in scenarios().items()}
    wrong = [f"{name}: expected {s.expect}, reached {decision}" for name, (s, _, decision) in made.items() if decision != s.expect]
    if wrong:
        raise SystemExit("nothing written: " + "; ".join(wrong))
    RECORDINGS.mkdir(parents=True, exist_ok=True)
    for stale in RECORDINGS.glob("*.json"):
        stale.unlink()
    for name, (_, data, decision) in made.items():
        path = RECORDINGS / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({decision}, {len(data['exchanges'])} exchange(s))")


if __name__ == "__main__":
    main()
