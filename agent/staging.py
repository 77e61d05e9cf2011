"""What the model has staged: one slot per artifact, the table of tools that fill them, and the judgement of submit_decision.

Each tool names the artifact it stages and how it builds and checks the new version. A rejected
write or edit withdraws that artifact from approval until a later one is accepted (edits keep
applying to the last accepted version), so ``submit_decision`` can never approve a version the
model has since tried to replace. With a draft, the offline planner's artifacts start out staged,
marked ``draft``, so an approval can be a single call; while the model has not touched the draft
cicd.yaml and runbook.md, an accepted change of the plan re-renders them from the new plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from agent.artifacts import Approve, Decision, Veto, stamp_deployment, veto_message, veto_stamps
from agent.facts import Facts
from agent.facts import artifacts_dir as artifacts_location
from agent.inputs import Inputs
from agent.models import ToolCall
from agent.models.offline.planner import facts_for_plan
from agent.prompting import edits, tools
from agent.rendering import runbook, workflow
from agent.rendering.manifests import render
from agent.validation import Bundle, Violation, check_bundle, check_cicd, check_deployment, check_runbook, check_veto, errors, k8s, schemas
from agent.validation.tools import MISSING

ARTIFACTS = ("deployment.json", "cicd.yaml", "runbook.md")
RENDERERS: dict[str, Callable[[Facts, dict[str, Any]], str]] = {"cicd.yaml": workflow.render, "runbook.md": runbook.render}
"""The draft artifacts rendered from the plan, as the offline planner renders them."""
Built = tuple[Any, list[Violation]]
Outcome = tuple[str, bool]


class Slot:
    """One artifact being staged: its last accepted version, where that came from, and a pending rejection."""

    def __init__(self) -> None:
        self.value: Any = None
        self.source = ""
        self.edits = 0
        self.rerendered = 0
        """Accepted plan changes this draft was re-rendered after (its text changed)."""
        self.rejected: list[Violation] = []

    @property
    def approvable(self) -> Any:
        return None if self.rejected else self.value

    @property
    def untouched_draft(self) -> bool:
        """The planner's draft as staged: no edit by the model, accepted or rejected."""
        return self.source == "draft" and not self.edits and not self.rejected

    def provenance(self) -> str:
        if self.value is None:
            return "not staged"
        rerendered = f", re-rendered after {self.rerendered} plan edit(s)" if self.rerendered else ""
        edited = f", {self.edits} edit(s) by the model" if self.edits else ""
        withdrawn = " (withdrawn: the latest change was rejected)" if self.rejected else ""
        return ("offline planner's draft" if self.source == "draft" else "written by the model") + rerendered + edited + withdrawn


class Tool(NamedTuple):
    artifact: str
    build: Callable[[Stage, str, dict[str, Any]], Built]
    edit: bool = False


class Stage:
    """The staging area of one conversation: tool calls in, tool results and (at most) one decision out."""

    def __init__(self, inputs: Inputs, moment: datetime, offered: set[str], *, external: bool = True) -> None:
        self.inputs, self.moment, self.offered, self.external = inputs, moment, offered, external
        self.slots = {name: Slot() for name in (*ARTIFACTS, "veto")}
        self.declared = inputs.implementation.declared_endpoints()
        self.refused: list[Violation] = []
        self._facts: dict[str, Facts] = {}

    def facts(self, deployment: Any) -> Facts:
        """The service facts a plan is rendered with (names, paths), whoever wrote the plan.

        Cached per plan: computing them walks every file path of implementation.json (80,000 in a 13 MB one).
        """
        plan = deployment if isinstance(deployment, dict) else {}
        key = json.dumps(plan, sort_keys=True, default=str)
        if key not in self._facts:
            self._facts[key] = facts_for_plan(self.inputs, plan)
        return self._facts[key]

    def artifacts_dir(self) -> str:
        return artifacts_location(self.inputs.workspace)  # what facts().artifacts_dir says, without the walk

    def call(self, call: ToolCall) -> Outcome:
        """Build, check and stage one write or edit; a rejection withdraws the artifact."""
        tool = TOOLS.get(call.name) if call.name in self.offered else None
        if tool is None:
            return f"Unknown tool {call.name!r}; the tools are: {', '.join(sorted(self.offered))}.", False
        if not isinstance(call.input, dict):
            return f"{call.name} rejected: its input must be a JSON object, not {type(call.input).__name__}.", False
        slot = self.slots[tool.artifact]
        value, found = tool.build(self, call.name, call.input)
        blocking = errors(found)
        if blocking:
            withdrawn = slot.value is not None and not slot.rejected
            slot.rejected = blocking
            note = f"\nThe earlier {tool.artifact} is withdrawn from approval until a corrected version is accepted." if withdrawn else ""
            return rejection(call.name, blocking) + note, False
        slot.value, slot.rejected = value, []
        slot.source, slot.edits, slot.rerendered = (slot.source, slot.edits + 1, slot.rerendered) if tool.edit else ("model", 0, 0)
        # A check skipped for want of a linter is the operator's business (validate reports it), not the model's:
        # the model could not act on it, and the request must not depend on which linters this machine has.
        shown = [v for v in found if v.severity == "warning" and v.rule != MISSING]
        note = "".join(f"\n- warning {v.path} [{v.rule}]: {v.message}" for v in shown)
        if tool.artifact == "deployment.json":
            note += self._rerender(value, "edited" if tool.edit else "new")
        return f"{call.name}: staged, valid.{note}", True

    def _rerender(self, plan: dict[str, Any], how: str) -> str:
        """Keep the untouched draft cicd.yaml and runbook.md in step with an accepted plan (submit_decision checks the set).

        Rendered as the planner renders them: the facts of the plan, listing the plan's own assumptions,
        so an unchanged plan renders the draft byte for byte.
        """
        drafts = [name for name in RENDERERS if self.slots[name].untouched_draft]
        if not drafts:
            return ""
        listed = plan.get("assumptions")
        facts = self.facts(plan)._replace(assumptions=[str(a) for a in listed] if isinstance(listed, list) else [])
        changed = []
        for name in drafts:
            text, slot = RENDERERS[name](facts, plan), self.slots[name]
            if text != slot.value:
                slot.value, slot.rerendered = text, slot.rerendered + 1
                changed.append(name)
        if not changed:
            return ""
        return f"\n{' and '.join(changed)} {'were' if len(changed) > 1 else 'was'} re-rendered from the {how} plan."

    def submit(self, raw: Any) -> tuple[str, bool, Decision | None]:
        found = schemas.check("submit_decision", raw, "submit_decision")
        if found:
            return rejection("submit_decision", found), False, None
        reason = str(raw["reason"])
        if raw["decision"] == "veto":
            veto = self.slots["veto"].approvable
            if veto is None:
                return "submit_decision rejected: no valid veto is staged; call write_veto before it, in the same reply.", False, None
            return "Veto accepted.", True, veto._replace(reason=reason)
        bundle = Bundle(*(self.slots[name].approvable for name in ARTIFACTS))
        blocking = errors(check_bundle(bundle, self.declared, artifacts_dir=self.artifacts_dir(), external=self.external))
        if blocking:
            self.refused = blocking
            withdrawn = [name for name in ARTIFACTS if self.slots[name].rejected]
            note = "".join(f"\n{name} is withdrawn: its latest write or edit was rejected." for name in withdrawn)
            return rejection("submit_decision", blocking) + note, False, None
        assert bundle.deployment is not None and bundle.cicd is not None and bundle.runbook is not None
        derived = render(bundle.deployment, self.facts(bundle.deployment))
        return "Approval accepted.", True, Approve(bundle.deployment, bundle.cicd, bundle.runbook, reason=reason, derived=derived)

    def stage_draft(self, draft: Decision, log: Callable[[str], None], *, check: bool = True) -> None:
        """The planner's artifacts start out staged, each only if it passes the same checks as a write.

        ``check=False`` (a backend that only ever accepts the draft) leaves the artifacts' checks to
        submit_decision, which checks the whole set anyway.
        """
        candidates: list[tuple[str, Any, list[Violation]]]
        if isinstance(draft, Veto):
            candidates = [("veto", draft, check_veto(veto_message(draft, self.inputs, self.moment)))]
        else:
            plan = stamp_deployment(draft.deployment, self.inputs, self.moment)
            candidates = [
                ("deployment.json", plan, check_deployment(plan, self.declared) if check else []),
                ("cicd.yaml", draft.cicd, check_cicd(draft.cicd, plan, artifacts_dir=self.artifacts_dir()) if check else []),
                ("runbook.md", draft.runbook, check_runbook(draft.runbook, plan) if check else []),
            ]
        for name, value, found in candidates:
            if errors(found):
                log(f"draft {name} not staged: {errors(found)[0]}")
                continue
            self.slots[name].value, self.slots[name].source = value, "draft"

    def provenance(self, decision: Decision) -> dict[str, str]:
        names = ARTIFACTS if isinstance(decision, Approve) else ("veto",)
        return {name: self.slots[name].provenance() for name in names}

    def problems(self) -> list[str]:
        problems = [f"{name}: {v}" for name, slot in self.slots.items() for v in slot.rejected]
        return problems + [f"submit_decision: {v}" for v in self.refused]

    # ---------------------------------------------------------------- the tools' builders

    def _write_deployment(self, tool: str, data: dict[str, Any]) -> Built:
        document = stamp_deployment(data, self.inputs, self.moment)
        found = check_deployment(document, self.declared)
        if self.external and not errors(found):
            found += k8s.check_plan(document, self.facts(document))  # what the plan renders to must deploy
        return document, found

    def _edit_deployment(self, tool: str, data: dict[str, Any]) -> Built:
        found = self._editable(tool, "deployment.json") or tools.check_input(tool, data)
        if found:
            return None, found
        try:
            changed = edits.patch(self.slots["deployment.json"].value, data["operations"])
        except edits.EditError as err:
            return None, [Violation(tool, err.where, "edit.apply", str(err))]
        return self._write_deployment(tool, changed)

    def _write_text(self, tool: str, data: dict[str, Any]) -> Built:
        found = schemas.check("text_artifact", data, tool)
        return (None, found) if found else self._check_text(tool, str(data["content"]))

    def _edit_text(self, tool: str, data: dict[str, Any]) -> Built:
        artifact = TOOLS[tool].artifact
        found = self._editable(tool, artifact) or tools.check_input(tool, data)
        if found:
            return None, found
        try:
            text = edits.replace(self.slots[artifact].value, data["edits"])
        except edits.EditError as err:
            return None, [Violation(tool, err.where, "edit.apply", str(err))]
        return self._check_text(tool, text)

    def _check_text(self, tool: str, text: str) -> Built:
        plan = self.slots["deployment.json"].value
        if TOOLS[tool].artifact == "cicd.yaml":
            return text, check_cicd(text, plan, artifacts_dir=self.artifacts_dir(), external=self.external)
        return text, check_runbook(text, plan)

    def _write_veto(self, tool: str, data: dict[str, Any]) -> Built:
        found = check_veto({**data, **veto_stamps(self.inputs, self.moment)}, tool)
        return Veto(str(data.get("subject")), data.get("content") or {}, str(data.get("action_needed"))), found

    def _editable(self, tool: str, artifact: str) -> list[Violation]:
        if self.slots[artifact].value is not None:
            return []
        stem = {"deployment.json": "deployment", "cicd.yaml": "cicd", "runbook.md": "runbook"}[artifact]
        return [Violation(tool, "$", "edit.nothing_staged", f"no {artifact} is staged to edit; write it in full with write_{stem}")]


TOOLS: dict[str, Tool] = {
    "write_deployment": Tool("deployment.json", Stage._write_deployment),
    "edit_deployment": Tool("deployment.json", Stage._edit_deployment, edit=True),
    "write_cicd": Tool("cicd.yaml", Stage._write_text),
    "edit_cicd": Tool("cicd.yaml", Stage._edit_text, edit=True),
    "write_runbook": Tool("runbook.md", Stage._write_text),
    "edit_runbook": Tool("runbook.md", Stage._edit_text, edit=True),
    "write_veto": Tool("veto", Stage._write_veto),
}
"""Every tool but submit_decision: the artifact it stages and how it builds the new version."""


def rejection(tool: str, found: list[Violation]) -> str:
    lines = [f"{tool} rejected: {len(found)} violation(s). Fix every one and call {tool} again (or edit) in your next reply."]
    lines += [f"- {v.artifact} {v.path} [{v.rule}]: {v.message}" for v in found]
    return "\n".join(lines)
