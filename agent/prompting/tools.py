"""The tool definitions the model calls. Names and inputs are a contract: recordings depend on them."""

from __future__ import annotations

from typing import Any

from agent.validation import schemas

STAMPED_DEPLOYMENT = ("epic_id", "iteration", "timestamp")
STAMPED_VETO = ("from", "to", "timestamp", "epic_id", "iteration", "type")
TOOL_NAMES = ("write_deployment", "write_cicd", "write_runbook", "write_veto", "submit_decision")


def definitions() -> list[dict[str, Any]]:
    return [
        {
            "name": "write_deployment",
            "description": "Stage the deployment plan (deployment.json). The agent stamps epic_id, "
            "iteration and timestamp. Validated against schema and policy; errors come back as the tool result.",
            "input_schema": schemas.tool_input_schema("deployment", drop=STAMPED_DEPLOYMENT),
        },
        {
            "name": "write_cicd",
            "description": "Stage the GitHub Actions workflow (cicd.yaml): the whole YAML file as `content`.",
            "input_schema": schemas.tool_input_schema("text_artifact"),
        },
        {
            "name": "write_runbook",
            "description": "Stage the runbook (runbook.md): the whole Markdown file as `content`.",
            "input_schema": schemas.tool_input_schema("text_artifact"),
        },
        {
            "name": "write_veto",
            "description": "Stage a blocking veto message to quality. The agent stamps from, to, timestamp, epic_id, iteration and type.",
            "input_schema": schemas.tool_input_schema("veto", drop=STAMPED_VETO),
        },
        {
            "name": "submit_decision",
            "description": "Commit the decision. approve needs write_deployment, write_cicd and "
            "write_runbook staged and valid; veto needs write_veto staged. Nothing is written before this.",
            "input_schema": schemas.tool_input_schema("submit_decision"),
        },
    ]
