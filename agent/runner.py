"""One run of the devops stage: lock → recover → load → gate → (model loop) → commit, with signals handled."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from agent import decision_log, gates, journal, prompting
from agent.artifacts import Approve, Decision, now
from agent.conversation import Conversation, Stats
from agent.errors import EXIT_APPROVED, EXIT_NOT_READY, EXIT_VETOED, DevopsAgentError
from agent.gates import GateResult
from agent.inputs import Inputs, load
from agent.journal import FaultHook
from agent.models import Log, Model, build_model
from agent.options import RunOptions
from agent.signals import SignalGuard
from agent.transcript import Transcript
from agent.workspace import Workspace, locked
from agent.writer import Committed, Writer, refuse_unsafe


class RunResult:
    """How a run ended, filled in as it goes: what ``--json`` reports."""

    def __init__(
        self, decision: str, exit_code: int, epic_id: str | None = None, iteration: int | None = None, *,
        warnings: list[str] | None = None, reason: str = "",
    ) -> None:  # fmt: skip
        self.decision, self.exit_code, self.epic_id, self.iteration = decision, exit_code, epic_id, iteration
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self.warnings = warnings if warnings is not None else []
        self.stats = Stats()
        self.reason = reason
        self.transcript: str | None = None
        self.previous = False

    def to_json(self, duration: float) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "epic_id": self.epic_id,
            "iteration": self.iteration,
            "written": self.written,
            "unchanged": self.unchanged,
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


def _no_fault(point: str) -> None:
    """Without a test's hook, the commit runs straight through."""


class Runner:
    def __init__(
        self,
        opts: RunOptions,
        *,
        log: Log,
        model_factory: ModelFactory = build_model,
        fault: FaultHook | None = None,
        guard: SignalGuard | None = None,
    ) -> None:
        self.opts, self.log, self.model_factory = opts, log, model_factory
        self.fault = fault or _no_fault
        self.guard = guard or SignalGuard()
        self.result = RunResult("error", 2)

    def run(self) -> RunResult:
        workspace = Workspace.locate(self.opts.workspace)
        with self.guard.installed(), locked(workspace, self.opts.lock_timeout, log=self.log):
            self._recover(workspace)
            inputs = load(workspace)
            self.result = RunResult("error", 2, inputs.epic_id, inputs.iteration, warnings=self.result.warnings)
            for warning in inputs.warnings:
                self._warn(warning)
            gate = gates.evaluate(inputs)  # first, always: an earlier approval stands only while the gates still pass
            earlier = self._earlier_decision(inputs, gate)
            if earlier is not None:
                return self._earlier(earlier)
            return self._decide(inputs, gate)

    def _warn(self, warning: str) -> None:
        self.result.warnings.append(warning)
        self.log(f"warning: {warning}")

    def _recover(self, workspace: Workspace) -> None:
        """First thing under the lock: refuse links, finish what an interrupted run committed, sweep the rest."""
        refuse_unsafe(workspace)
        with self.guard.deferred():
            warnings = journal.recover(workspace, lambda point: self.fault(f"recover:{point}"))
        for warning in warnings:
            self._warn(warning)
        self.guard.check()

    def _earlier_decision(self, inputs: Inputs, gate: GateResult) -> dict[str, Any] | None:
        """The logged decision for this iteration, if its files are still there as committed and, for an approval,
        the gates still pass (quality may have withdrawn it since; a line another agent forged cannot skip them)."""
        earlier = inputs.devops_decision()
        if earlier is None or self.opts.force:
            return None
        line = f"log line for {inputs.epic_id} iteration {inputs.iteration}"
        if earlier.get("decision") == "approve" and gate.outcome != "pass":
            self._warn(f"{line} approves, but the gates no longer pass ({gate.reason}); deciding again")
            return None
        problems = decision_log.verify(inputs.workspace, earlier)
        if problems:
            self._warn(f"{line} claims files that are missing/changed: {'; '.join(problems)}; deciding again")
            return None
        refused = self._unsound(inputs) if earlier.get("decision") == "approve" else []
        if refused:
            self._warn(f"{line} approves files the validator refuses: {refused[0]}; deciding again")
            return None
        return earlier

    def _unsound(self, inputs: Inputs) -> list[str]:
        """What the validator refuses in an earlier approval's artifacts: a line another agent forged, with the digests
        of files it wrote, claims files no approval of ours would have written (the linters are not run here)."""
        from agent.facts import artifacts_dir
        from agent.validation import check_bundle, errors
        from agent.validation.command import read_bundle

        try:
            bundle = read_bundle(inputs.workspace)
        except DevopsAgentError as err:
            return [f"they cannot be read ({err})"]
        where = artifacts_dir(inputs.workspace)
        found = errors(check_bundle(bundle, inputs.implementation.declared_endpoints(), artifacts_dir=where, external=False))
        return [f"{len(found)} error(s), the first {found[0]}"] if found else []

    def _earlier(self, entry: dict[str, Any]) -> RunResult:
        code = EXIT_APPROVED if entry["decision"] == "approve" else EXIT_VETOED
        self.result.decision, self.result.exit_code, self.result.previous = entry["decision"], code, True
        self.result.reason = f"already decided at {entry.get('timestamp')}; nothing done (use --force to decide again)"
        return self.result

    def _decide(self, inputs: Inputs, gate: GateResult) -> RunResult:
        moment = now()
        if gate.outcome == "not_ready":
            self.result.decision, self.result.exit_code, self.result.reason = "not_ready", EXIT_NOT_READY, gate.reason
            return self.result
        decision: Decision = gate.veto if gate.veto is not None else self._converse(inputs, gate.findings, moment)
        writer = Writer(inputs, moment, self.fault, checkpoint=self.guard.check)
        with self.guard.deferred():
            committed = writer.commit(decision)
            self._committed(decision, committed, gate.reason if gate.veto else "")
        self.guard.check()
        return self.result

    def _committed(self, decision: Decision, committed: Committed, gate_reason: str) -> None:
        self.result.decision = decision.kind
        self.result.exit_code = EXIT_APPROVED if isinstance(decision, Approve) else EXIT_VETOED
        self.result.written = [str(p) for p in committed.written]
        self.result.unchanged = [str(p) for p in committed.unchanged]
        self.result.reason = decision.reason or gate_reason
        for warning in committed.warnings:
            self._warn(warning)
        self.guard.committed = True

    def _converse(self, inputs: Inputs, findings: Sequence[str], moment: Any) -> Decision:
        """Ask the model (with the offline planner's draft unless --no-draft), audited in a transcript."""
        from agent.models.offline import OfflineModel, planner

        model = self.model_factory(self.opts, inputs, self.log)
        # The offline backend's own plan is the draft: planned once.
        draft = (model.plan() if isinstance(model, OfflineModel) else planner.plan(inputs)) if self.opts.draft else None
        live = None
        if sys.stderr.isatty() and model.reads_prompt:  # a streamed reply, watched on a terminal
            from agent.models.progress import LiveLine

            live = LiveLine(sys.stderr, lambda: self.result.stats.turns)
        log = self.log if live is None else live.before(self.log)
        assembly = prompting.assemble(
            inputs,
            findings,
            model=self.opts.model,
            max_input_tokens=self.opts.max_input_tokens,
            max_tokens=self.opts.max_tokens,
            effort=self.opts.effort,
            draft=draft,
            count=(lambda text: model.count_tokens(self.opts.model, text)) if model.reads_prompt else None,
            documents=model.reads_prompt,
        )
        for note in assembly.omitted:
            log(f"input budget: {note}")
        transcript = Transcript(model.name, self.opts.model, moment, assembly.request)
        transcript.add({"documents": {"tokens": assembly.document_tokens, "counted": assembly.counted, "omitted": assembly.omitted}})
        conversation = Conversation(
            model, inputs, assembly.request, moment, max_turns=self.opts.max_turns, log=log, record=transcript.add, draft=draft,
            progress=live,
        )
        self.result.stats = conversation.stats
        outcome: dict[str, Any] = {"decision": "failed"}
        try:
            decision = conversation.run()
            outcome = {"decision": decision.kind, "reason": decision.reason, "provenance": conversation.provenance(decision)}
            return decision
        except DevopsAgentError as err:
            outcome = {"decision": err.decision, "error": str(err)}
            raise
        finally:
            if live is not None:
                live.clear()
            self._save_audit(model, inputs, transcript, conversation.stats, outcome)

    def _save_audit(self, model: Model, inputs: Inputs, transcript: Transcript, stats: Stats, outcome: dict[str, Any]) -> None:
        """The recording (--record) and the transcript; neither holds a credential (the SDK's headers are not kept)."""
        transport = getattr(model, "transport", None)
        if self.opts.record and transport is not None and hasattr(transport, "save"):
            transport.save(self.opts.record)
            self.log(f"recording: {self.opts.record}")
        if callable(close := getattr(model, "close", None)):
            close()  # the connections (and, under --record, the network transport)
        if not model.reads_prompt:
            return
        outcome |= {"turns": stats.turns, "requests": stats.requests, "usage": stats.usage.to_dict()}
        path = transcript.save(inputs.workspace.transcripts, outcome)
        self.result.transcript = str(path)
        self.log(f"transcript: {path}")


def timed_run(opts: RunOptions, log: Log, **kwargs: Any) -> tuple[RunResult, float]:
    started = time.perf_counter()
    runner = Runner(opts, log=log, **kwargs)
    return runner.run(), time.perf_counter() - started
