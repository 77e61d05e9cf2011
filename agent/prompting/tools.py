"""The tool definitions the model calls. Names and inputs are a contract: recordings depend on them.

Every input schema comes from ``schemas/`` (the validator's own), minus the fields the agent
stamps and minus annotations the API does not take (keys starting ``x-``, such as ``x-rule``).
"""

from __future__ import annotations

from typing import Any

from agent.validation import schemas
from agent.validation.violations import Violation, json_path

STAMPED_DEPLOYMENT = ("epic_id", "iteration", "timestamp")
STAMPED_VETO = ("from", "to", "timestamp", "epic_id", "iteration", "type")
TOOL_NAMES = (
    "write_deployment",
    "edit_deployment",
    "write_cicd",
    "edit_cicd",
    "write_runbook",
    "edit_runbook",
    "write_veto",
    "submit_decision",
)
DRAFT_TOOLS = ("edit_deployment", "edit_cicd", "edit_runbook")

SAME_REPLY = (
    "Make every write and edit call and then submit_decision together in ONE reply: the agent validates the "
    "writes first, in the order you send them, and judges submit_decision last, within that same reply. Do not "
    "wait for results; you get another turn only if something is rejected, with every violation listed."
)
WITHDRAWN = (
    "A rejected call withdraws the artifact from approval until a later write or edit of it is accepted "
    "(edits apply to the last accepted version)."
)
_TEXT_EDIT = (
    "with exact-text replacements: each `old` must occur exactly once in the current text (include enough "
    "surrounding lines to make it unique) and is replaced by `new`. Applied in order, all or nothing."
)

DESCRIPTIONS = {
    "write_deployment": "Stage deployment.json in full, replacing any staged version. Do not send epic_id, iteration or "
    "timestamp: the agent stamps them. Checked on arrival against this schema and the deployment.* and cross.* policy "
    f"rules; violations come back as the tool result with JSON path and rule id. {WITHDRAWN}",
    "edit_deployment": "Change the staged deployment.json (the draft, or your last accepted version) with JSON Patch "
    "operations (RFC 6902 add, remove, replace; JSON Pointer paths such as /infrastructure/scaling/max_replicas, "
    f"/monitoring/alerts/- to append). Applied in order, all or nothing; the result is checked like write_deployment. {WITHDRAWN}",
    "write_cicd": "Stage the GitHub Actions workflow (cicd.yaml) in full: the whole YAML file as `content`, replacing any "
    f"staged version. Checked on arrival against the cicd.* policy rules. {WITHDRAWN}",
    "edit_cicd": f"Change the staged cicd.yaml {_TEXT_EDIT} The result is checked like write_cicd. {WITHDRAWN}",
    "write_runbook": "Stage the runbook (runbook.md) in full: the whole Markdown file as `content`, replacing any staged "
    f"version. Checked on arrival against the runbook.* policy rules and the staged deployment's alerts. {WITHDRAWN}",
    "edit_runbook": f"Change the staged runbook.md {_TEXT_EDIT} The result is checked like write_runbook. {WITHDRAWN}",
    "write_veto": "Stage a blocking veto to quality, replacing any staged veto. The agent stamps from, to, timestamp, "
    "epic_id, iteration and type.",
    "submit_decision": "Commit the decision; nothing is written before it. approve: deployment.json, cicd.yaml and "
    "runbook.md must be staged (written, edited or accepted from the draft) and valid together; veto: a veto must be "
    "staged. Send it last, in the same reply as your writes and edits.",
}

INPUT_SCHEMAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "write_deployment": ("deployment.schema.json", STAMPED_DEPLOYMENT),
    "edit_deployment": ("deployment_patch.schema.json", ()),
    "write_cicd": ("text_artifact.schema.json", ()),
    "edit_cicd": ("text_edit.schema.json", ()),
    "write_runbook": ("text_artifact.schema.json", ()),
    "edit_runbook": ("text_edit.schema.json", ()),
    "write_veto": ("veto.schema.json", STAMPED_VETO),
    "submit_decision": ("submit_decision.schema.json", ()),
}


def offered(*, draft: bool = False) -> list[str]:
    """The tools offered: the edit tools only with a draft (or an earlier version) to edit."""
    return [n for n in TOOL_NAMES if draft or n not in DRAFT_TOOLS]


def definitions(*, draft: bool = False) -> list[dict[str, Any]]:
    """The offered tools as the API takes them: name, description and input schema."""
    return [{"name": n, "description": f"{DESCRIPTIONS[n]} {SAME_REPLY}", "input_schema": input_schema(n)} for n in offered(draft=draft)]


def input_schema(tool: str) -> dict[str, Any]:
    file, drop = INPUT_SCHEMAS[tool]
    schema = {k: v for k, v in schemas.load_file(file).items() if k not in {"$schema", "$id", "title"}}
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in drop}
    schema["required"] = [k for k in schema["required"] if k not in drop]
    stripped: dict[str, Any] = _strip(schema)
    return stripped


def _strip(node: Any) -> Any:
    """The schema without ``x-`` annotation keys (the API's tool schemas take standard keywords only).

    Inside ``properties`` the keys are field names, never annotations, so they are kept as they are.
    """
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    named = {"properties", "$defs", "patternProperties"}
    return {k: (_strip_each(v) if k in named else _strip(v)) for k, v in node.items() if not k.startswith("x-")}


def _strip_each(node: Any) -> Any:
    return {k: _strip(v) for k, v in node.items()} if isinstance(node, dict) else node


def check_input(tool: str, data: Any) -> list[Violation]:
    """Schema violations of an edit tool's input (the artifacts' own schemas are checked by ``agent.validation``)."""
    file = INPUT_SCHEMAS[tool][0]
    found = schemas.validator(file).iter_errors(data)
    return sorted(Violation(tool, json_path(e.absolute_path), f"schema.{e.validator}", e.message) for e in found)

