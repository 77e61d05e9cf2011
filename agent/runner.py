"""One run of the devops stage: load → gate → (model loop) → commit, under the workspace lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent import gates, prompting
from agent.artifacts import Approve, Decision, now
from agent.conversation import Conversation, Stats
from agent.errors import EXIT_APPROVED, EXIT_NOT_READY, EXIT_VETOED, DevopsAgentError
from agent.models import Log, Model, build_model
from agent.options import RunOptions
from agent.transcript import Transcript
from agent.workspace import Inputs, Workspace, load, locked
from agent.writer import FaultHook, Writer


@dataclass
class RunResult:
    decision: str
    exit_code: int
    epic_id: str | None = None
    iteration: int | None = None
    written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    reason: str = ""
    transcript: str | None = None
    previous: bool = False

    def to_json(self, duration: float) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "epic_id": self.epic_id,
            "iteration": self.iteration,
            "written": self.written,
            "warnings": self.warnings,
            "requests": self.stats.requests,
            "turns": self.stats.turns,
            "usage": self.stats.usage.to_dict(),
            "exit_code": self.exit_code,
            "duration_s": round(duration, 3),
            "reason": self.reason,
            "transcript": self.transcript,
            "previous_decision": self.previous,
        }


ModelFactory = Callable[[RunOptions, Inputs, Log], Model]


class Runner:
    def __init__(self, opts: RunOptions, *, log: Log, model_factory: ModelFactory = build_model, fault: FaultHook | None = None) -> None:
        self.opts, self.log, self.model_factory, self.fault = opts, log, model_factory, fault
        self.result = RunResult("error", 2)

    def run(self) -> RunResult:
        workspace = Workspace.locate(self.opts.workspace)
        with locked(workspace):
            inputs = load(workspace)
            self.result = RunResult("error", 2, inputs.epic_id, inputs.iteration, warnings=inputs.warnings)
            for warning in inputs.warnings:
                self.log(f"warning: {warning}")
            earlier = inputs.devops_decision()
            if earlier and not self.opts.force:
                return self._earlier(earlier)
            return self._decide(inputs)

    def _earlier(self, entry: dict[str, Any]) -> RunResult:
        code = EXIT_APPROVED if entry["decision"] == "approve" else EXIT_VETOED
        self.result.decision, self.result.exit_code, self.result.previous = entry["decision"], code, True
        self.result.reason = f"already decided at {entry.get('timestamp')}; nothing done (use --force to decide again)"
        return self.result

    def _decide(self, inputs: Inputs) -> RunResult:
        gate = gates.evaluate(inputs)
        moment = now()
        writer = Writer(inputs, moment, self.fault) if self.fault else Writer(inputs, moment)
        if gate.outcome == "not_ready":
            self.result.decision, self.result.exit_code, self.result.reason = "not_ready", EXIT_NOT_READY, gate.reason
            return self.result
        decision: Decision | None = gate.veto
        if decision is None:
            decision = self._converse(inputs, gate.findings, moment)
        committed = writer.commit(decision)
        self.result.decision = decision.kind
        self.result.exit_code = EXIT_APPROVED if isinstance(decision, Approve) else EXIT_VETOED
        self.result.written = [str(p) for p in committed.written]
        self.result.reason = decision.reason or (gate.reason if gate.veto else "")
        return self.result

    def _converse(self, inputs: Inputs, findings: list[str], moment: Any) -> Decision:
        model = self.model_factory(self.opts, inputs, self.log)
        assembly = prompting.assemble(
            inputs,
            findings,
            model=self.opts.model,
            max_input_tokens=self.opts.max_input_tokens,
            max_tokens=self.opts.max_tokens,
        )
        for note in assembly.omitted:
            self.log(f"input budget: {note}")
        transcript = Transcript(model.name, self.opts.model, moment, assembly.request)
        conversation = Conversation(
            model, inputs, assembly.request, moment, max_turns=self.opts.max_turns, log=self.log, record=transcript.add
        )
        self.result.stats = conversation.stats
        outcome: dict[str, Any] = {"decision": "failed"}
        try:
            decision = conversation.run()
            outcome = {"decision": decision.kind, "reason": decision.reason}
            return decision
        except DevopsAgentError as err:
            outcome = {"decision": err.decision, "error": str(err)}
            raise
        finally:
            self._save_audit(model, inputs, transcript, conversation.stats, outcome)

    def _save_audit(self, model: Model, inputs: Inputs, transcript: Transcript, stats: Stats, outcome: dict[str, Any]) -> None:
        transport = getattr(model, "transport", None)
        if self.opts.record and transport is not None and hasattr(transport, "save"):
            transport.save(self.opts.record)
            self.log(f"recording: {self.opts.record}")
        if model.name == "offline":
            return
        outcome |= {"turns": stats.turns, "requests": stats.requests, "usage": stats.usage.to_dict()}
        path = transcript.save(inputs.workspace.transcripts, outcome)
        self.result.transcript = str(path)
        self.log(f"transcript: {path}")


def timed_run(opts: RunOptions, log: Log, **kwargs: Any) -> tuple[RunResult, float]:
    started = time.perf_counter()
    runner = Runner(opts, log=log, **kwargs)
    return runner.run(), time.perf_counter() - started
