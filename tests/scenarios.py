"""Hand-written model replies for the recordings in fixtures/recordings/.

No API key is available where this project is built, so the *responses* here are
written by hand in the Messages API wire format; the *requests* in each recording
are what the agent really sends, captured by running it against these replies
through the real ``anthropic`` client. Regenerate after a prompt change with
``python -m tests.scenarios --write``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx2

from agent.artifacts import Approve
from agent.models.anthropic import AnthropicModel
from agent.models.offline import planner
from agent.models.recording import RecordingTransport
from agent.models.retry import RetryPolicy
from agent.options import RunOptions
from agent.runner import Runner
from agent.workspace import Workspace, load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
RECORDINGS = ROOT / "fixtures" / "recordings"
USAGE = {"input_tokens": 9120, "output_tokens": 2410, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 7150}


def message(content: list[dict[str, Any]], stop: str, n: int) -> dict[str, Any]:
    return {
        "id": f"msg_fixture_{n:02d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": USAGE,
    }


def tool(n: int, name: str, data: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_fixture_{n:02d}", "name": name, "input": data}


def thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": "EqQBCkYIBxgCKkDfixturesignature" + str(len(text))}


def _approval() -> Approve:
    decision = planner.plan(load(Workspace.locate(EXAMPLE)))
    assert isinstance(decision, Approve)
    return decision


def _approve_calls(first: int, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    plan = _approval()
    return [
        tool(first, "write_deployment", deployment),
        tool(first + 1, "write_cicd", {"content": plan.cicd}),
        tool(first + 2, "write_runbook", {"content": plan.runbook}),
        tool(
            first + 3,
            "submit_decision",
            {"decision": "approve", "reason": "Health endpoint, rollback and monitoring in place."},
        ),
    ]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    return {"status": 200, "headers": {"content-type": "application/json"}, "body": body}


def scenarios() -> dict[str, list[dict[str, Any]]]:
    good = _approval().deployment
    bad = json.loads(json.dumps(good))
    bad["infrastructure"]["resources_required"]["memory"] = "128m"
    bad["rollback"]["time_to_rollback_seconds"] = 300
    veto = {
        "subject": "missing_monitoring",
        "content": {
            "violation": "No metrics endpoint",
            "location": "artifacts/implementation.json: service",
            "impact": "Cannot alert on errors",
            "requirement": "Expose Prometheus metrics",
            "suggestion": "Add /metrics",
            "blocking": True,
        },
        "action_needed": "add_metrics_endpoint",
    }
    text_only = [{"type": "text", "text": "I will now prepare the deployment plan."}]
    return {
        "approve_one_reply": [ok(message([thinking("Quality approved; /health exists."), *_approve_calls(1, good)], "tool_use", 1))],
        "correction_with_thinking": [
            ok(message([thinking("Plan first; memory in m."), *_approve_calls(1, bad)], "tool_use", 1)),
            ok(
                message(
                    [
                        thinking("Fix memory and rollback time."),
                        tool(5, "write_deployment", good),
                        tool(6, "submit_decision", {"decision": "approve", "reason": "Corrected plan."}),
                    ],
                    "tool_use",
                    2,
                )
            ),
        ],
        "model_veto": [
            ok(
                message(
                    [
                        tool(1, "write_veto", veto),
                        tool(2, "submit_decision", {"decision": "veto", "reason": "No metrics."}),
                    ],
                    "tool_use",
                    1,
                )
            )
        ],
        "never_valid": [ok(message(_approve_calls(1 + 4 * i, bad), "tool_use", i + 1)) for i in range(2)],
        "text_only_then_approve": [
            ok(message(text_only, "end_turn", 1)),
            ok(message(_approve_calls(1, good), "tool_use", 2)),
        ],
        "max_tokens_then_approve": [
            ok(message([thinking("Long plan..."), tool(1, "write_deployment", good)], "max_tokens", 1)),
            ok(message(_approve_calls(2, good)[1:], "tool_use", 2)),
        ],
        "refusal": [ok(message([], "refusal", 1))],
    }


MAX_TURNS = {"never_valid": 2}


@contextmanager
def workspace_copy(source: Path = EXAMPLE) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / source.name
        shutil.copytree(source, target)
        yield target


def record(name: str, replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the agent against ``replies`` through the real client; return the recording."""
    queue = list(replies)

    def serve(request: httpx2.Request) -> httpx2.Response:
        reply = queue.pop(0)
        return httpx2.Response(reply["status"], headers=reply["headers"], json=reply["body"])

    transport = RecordingTransport(httpx2.MockTransport(serve))
    with workspace_copy() as ws:
        opts = RunOptions(workspace=ws, backend="anthropic", max_turns=MAX_TURNS.get(name, 4))

        def factory(*_: Any) -> AnthropicModel:
            return AnthropicModel(retry=RetryPolicy(sleep=lambda s: None), timeout=30, api_key="sk-test", transport=transport)

        with suppress(Exception):
            Runner(opts, log=lambda line: None, model_factory=factory).run()
    return {
        "format": "devops-agent-recording/1",
        "note": "Responses hand-written in the Messages API wire format (no API key here); "
        "requests captured from the agent. Regenerate: python -m tests.scenarios --write",
        "exchanges": transport.exchanges,
    }


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--write", action="store_true")
    if not args.parse_args().write:
        print("\n".join(scenarios()))
        return
    RECORDINGS.mkdir(parents=True, exist_ok=True)
    for name, replies in scenarios().items():
        path = RECORDINGS / f"{name}.json"
        path.write_text(json.dumps(record(name, replies), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
