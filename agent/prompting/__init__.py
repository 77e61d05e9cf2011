"""Assemble the Messages API request: static prefix (tools + system), then the run's data blocks.

Rendering is deterministic (no clock, sorted keys), so the same workspace gives a
byte-identical request and recordings and the prompt cache keep working.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from agent import resources
from agent.artifacts import Approve, Decision
from agent.errors import UsageError
from agent.inputs import Inputs
from agent.prompting import budget, tools
from agent.rendering import pins

Counter = Callable[[str], "int | None"]
"""Input tokens of a text (the API's count_tokens), or None when it cannot be counted."""
COUNT_ROUNDS = 3
COUNT_ABOVE = 0.5
"""Ask the API to count only when the calibrated estimate exceeds this share of the budget (below it,
even an estimate off by a factor of two stays within budget, and the run saves a round trip)."""


def render(template: str, name: str, values: dict[str, str]) -> str:
    """Substitute ``$name`` strictly: every missing variable is named, none is left blank."""
    tpl = string.Template(template)
    missing = sorted(set(tpl.get_identifiers()) - values.keys())
    if missing or not tpl.is_valid():
        raise UsageError(f"prompt template {name}: missing variables {missing or '(invalid $ syntax)'}")
    return tpl.substitute(values)


def _prompt(file: str, **values: str) -> str:
    return render(resources.read("prompts", file), file, values).strip()


def policy_list() -> str:
    """The policy section of the system prompt, generated from the validator's rule registry."""
    from agent.validation import RULES

    lines = []
    for artifact in sorted({r.artifact for r in RULES.values()}):
        lines.append(f"\n{artifact}:")
        for r in sorted((r for r in RULES.values() if r.artifact == artifact), key=lambda r: r.id):
            lines.append(f"- `{r.id}`{' (warning only)' if r.severity == 'warning' else ''}: {r.summary}")
    return "\n".join(lines).strip()


def pin_list() -> str:
    """The ``uses:`` lines ``cicd.action_pinning`` accepts, generated from the vetted table (nothing else passes)."""
    return "\n".join(f"- {pin.uses} # {pin.version}" for rows in pins.table().values() for pin in rows)


def system_prompt(draft: bool = False) -> str:
    workflow = _prompt("workflow_draft.md" if draft else "workflow_full.md", contract=tools.SAME_REPLY)
    return _prompt("system.md", workflow=workflow, policy=policy_list(), pins=pin_list())


def attribute(value: str) -> str:
    """``value`` safe inside a double-quoted markup attribute: control characters spelled out, ``& < > " '`` escaped."""
    import html  # only when documents are rendered: a backend that reads no prompt does not pay for it

    printable = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)
    return html.escape(printable, quote=True)


TAGS = ("document", "draft")
_CLOSING = re.compile(r"</(" + "|".join(TAGS) + ")", re.IGNORECASE)
"""A closing tag of any block, in any case: a reader of the markup may not match tags case-sensitively."""


def _block(tag: str, attrs: dict[str, str], body: str) -> str:
    # A closing tag inside the data must not end this block, or any other, early.
    safe = _CLOSING.sub(lambda m: "<\\/" + m.group(1), body)
    shown = "".join(f' {k}="{attribute(v)}"' for k, v in attrs.items())
    return f"<{tag}{shown}>\n{safe}\n</{tag}>"


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Assembly(NamedTuple):
    request: dict[str, Any]
    omitted: list[str]
    document_tokens: int = 0
    """Tokens of the documents as sent: counted by the API when ``counted``, else the calibrated estimate."""
    counted: bool = False


def _documents(inputs: Inputs) -> tuple[dict[str, Any], list[str]]:
    """Every upstream document by label, and the inbox messages' labels oldest first (those may be left out)."""
    docs: dict[str, Any] = {f"artifacts/{name}": value for name, value in inputs.raw.items()}
    messages = sorted(inputs.messages, key=lambda m: (str(m.timestamp or ""), m.file))
    for message in messages:
        docs[f"messages/inbox/devops/{message.file}"] = message.document(exclude_none=True)
    return docs, [f"messages/inbox/devops/{m.file}" for m in messages]


def _fitted_blocks(inputs: Inputs, max_input_tokens: int, count: Counter | None) -> tuple[str, list[str], int, bool]:
    """The document blocks within budget: the calibrated estimate first, then the API's count corrects it."""
    docs, droppable = _documents(inputs)
    ratio, rounds = budget.CHARS_PER_TOKEN, 0
    while True:
        fitted, omitted = budget.fit(docs, max_input_tokens, droppable=droppable, chars_per_token=ratio)
        blocks = "\n\n".join(_block("document", {"source": label}, _dump(value)) for label, value in fitted.items())
        estimate = budget.tokens(len(blocks), ratio)
        counted = count(blocks) if count and (rounds or estimate > max_input_tokens * COUNT_ABOVE) else None
        rounds += 1
        if counted is None:
            return blocks, omitted, estimate, False
        if counted <= max_input_tokens or rounds == COUNT_ROUNDS:
            return blocks, omitted, counted, True
        # Measured characters per token, with a little room, so the next fit lands under budget.
        ratio = len(blocks) / counted * 0.97


def draft_blocks(draft: Decision) -> str:
    """The offline planner's artifacts, each in a labelled ``<draft>`` block (advice, shown to the model)."""
    if isinstance(draft, Approve):
        plan = {k: v for k, v in draft.deployment.items() if k not in tools.STAMPED_DEPLOYMENT}
        parts = [("deployment.json", _dump_plan(plan)), ("cicd.yaml", draft.cicd), ("runbook.md", draft.runbook)]
    else:
        veto = {"subject": draft.subject, "content": draft.content, "action_needed": draft.action_needed}
        parts = [("veto", _dump_plan(veto))]
    return "\n\n".join(_block("draft", {"artifact": name, "from": "offline planner"}, body) for name, body in parts)


def _dump_plan(value: Any) -> str:
    # Key order as the planner wrote it (readable, and what JSON Pointer paths refer to).
    return json.dumps(value, indent=1, ensure_ascii=False)


def user_turn(
    inputs: Inputs, findings: Sequence[str], max_input_tokens: int, *, draft: Decision | None = None, count: Counter | None = None
) -> tuple[str, list[str], int, bool]:
    blocks, omitted, used, counted = _fitted_blocks(inputs, max_input_tokens, count)
    values = {
        "epic_id": inputs.epic_id,
        "iteration": str(inputs.iteration),
        "title": inputs.title or "(no title)",
        "task": _task(draft),
        "documents": blocks,
        "findings": "\n".join(f"- {f}" for f in findings) or "- none",
        "omitted": "\n".join(f"- {line}" for line in omitted) or "- nothing was left out",
        "draft": "" if draft is None else "\n" + _prompt("draft.md", blocks=draft_blocks(draft)) + "\n",
    }
    return render(resources.read("prompts", "run.md"), "run.md", values), omitted, used, counted


def _task(draft: Decision | None) -> str:
    if draft is None:
        return _prompt("task_full.md")
    return _prompt("task_draft_approve.md" if isinstance(draft, Approve) else "task_draft_veto.md")


def assemble(
    inputs: Inputs,
    findings: Sequence[str],
    *,
    model: str,
    max_input_tokens: int,
    max_tokens: int,
    effort: str = "medium",
    draft: Decision | None = None,
    count: Counter | None = None,
    documents: bool = True,
) -> Assembly:
    """The first request. A ``draft`` is shown and the draft tools offered; ``documents=False`` (a backend
    that reads no prompt) skips the documents, the system prompt and the tools' schemas: the tools are named only."""
    drafting = draft is not None
    if documents:
        text, omitted, used, counted = user_turn(inputs, findings, max_input_tokens, draft=draft, count=count)
    else:
        text, omitted, used, counted = f"Epic {inputs.epic_id}, iteration {inputs.iteration} (documents not sent).", [], 0, False
    request = {
        "model": model,
        "max_tokens": max_tokens,
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {"effort": effort},
        # Automatic caching: the breakpoint follows the conversation, so a correction turn
        # reads the documents from the cache instead of paying for them again.
        "cache_control": {"type": "ephemeral"},
        "system": [{"type": "text", "text": system_prompt(drafting), "cache_control": {"type": "ephemeral"}}] if documents else [],
        "tools": tools.definitions(draft=drafting) if documents else [{"name": name} for name in tools.offered(draft=drafting)],
        "tool_choice": {"type": "auto"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    return Assembly(request, omitted, used, counted)
