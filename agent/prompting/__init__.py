"""Assemble the Messages API request: static prefix (tools + system), then the run's data blocks.

Rendering is deterministic (no clock, sorted keys), so the same workspace gives a
byte-identical request and recordings and the prompt cache keep working.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from agent import resources
from agent.errors import UsageError
from agent.prompting import budget, tools
from agent.workspace import Inputs


def render(template: str, name: str, values: dict[str, str]) -> str:
    """Substitute ``$name`` strictly: every missing variable is named, none is left blank."""
    tpl = string.Template(template)
    missing = sorted(set(tpl.get_identifiers()) - values.keys())
    if missing or not tpl.is_valid():
        raise UsageError(f"prompt template {name}: missing variables {missing or '(invalid $ syntax)'}")
    return tpl.substitute(values)


def system_prompt() -> str:
    return resources.read("prompts", "system.md").strip()


def _block(label: str, body: str) -> str:
    # A closing tag inside the data must not end the block early.
    safe = body.replace("</document", "<\\/document")
    return f'<document source="{label}">\n{safe}\n</document>'


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Assembly:
    request: dict[str, Any]
    omitted: list[str]


def user_turn(inputs: Inputs, findings: list[str], max_input_tokens: int) -> tuple[str, list[str]]:
    docs = {f"artifacts/{name}": value for name, value in inputs.raw.items()}
    for message in inputs.messages:
        docs[f"messages/inbox/devops/{message.file}"] = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    fitted, omitted = budget.fit(docs, max_input_tokens)
    blocks = "\n\n".join(_block(label, _dump(value)) for label, value in fitted.items())
    notes = "\n".join(f"- {line}" for line in omitted) or "- nothing was left out"
    text = render(
        resources.read("prompts", "run.md"),
        "run.md",
        {
            "epic_id": inputs.epic_id,
            "iteration": str(inputs.iteration),
            "title": inputs.title or "(no title)",
            "documents": blocks,
            "findings": "\n".join(f"- {f}" for f in findings) or "- none",
            "omitted": notes,
        },
    )
    return text, omitted


def assemble(inputs: Inputs, findings: list[str], *, model: str, max_input_tokens: int, max_tokens: int) -> Assembly:
    text, omitted = user_turn(inputs, findings, max_input_tokens)
    request = {
        "model": model,
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": system_prompt(), "cache_control": {"type": "ephemeral"}}],
        "tools": tools.definitions(),
        "tool_choice": {"type": "auto"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    return Assembly(request, omitted)
