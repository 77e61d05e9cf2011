"""Services of our own making for the rendering tests: a copy of the example workspace with another service in it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.facts import Facts
from agent.inputs import load
from agent.models.offline import planner
from agent.workspace import Workspace
from tests.conftest import EXAMPLE

LONG_NAME = "customer-notification-preferences-synchronisation-worker-for-eu-region"
"""72 characters: longer than a Kubernetes label (63), so every name derived from it must be shortened."""


@dataclass(frozen=True)
class Service:
    name: str
    language: str
    risk: str
    """The plan's highest risk impact: high → canary, medium → blue/green, low → rolling."""
    port: int | None
    endpoints: tuple[str, ...]
    files: tuple[str, ...]
    triggers: tuple[str, ...] = ("Error rate >1%",)


SERVICES = {
    "python-canary": Service(
        "refunds",
        "python",
        "high",
        8000,
        ("/refunds", "/refunds/{id}", "/livez", "/readyz", "/metrics"),
        ("src/refunds/api.py", "tests/test_api.py"),
        ("refund error rate > 0.5% for 5 minutes", "p99 latency > 300ms"),
    ),
    "go-blue-green": Service(
        "deliveries",
        "go",
        "medium",
        9090,
        ("/deliveries/{id}", "/healthz/live", "/healthz/ready"),
        ("cmd/server/main.go", "go.mod", "internal/deliveries/handler_test.go"),
    ),
    "node-rolling": Service("storefront", "node", "low", 3000, ("/", "/health"), ("src/index.js", "package.json", "test/index.test.js")),
    "long-name": Service(LONG_NAME, "python", "high", None, ("/health",), ("src/worker/health.py", "tests/test_health.py")),
}


def make(root: Path, service: Service) -> Workspace:
    """A classic-layout workspace under ``root`` whose implementation and plan describe ``service``."""
    shutil.copytree(EXAMPLE, root)
    artifacts = root / "consensus" / "artifacts"
    _edit(artifacts / "implementation.json", lambda doc: _implementation(doc, service))
    _edit(artifacts / "plan.json", lambda doc: _plan(doc, service))
    return Workspace.locate(root)


def plan_for(workspace: Workspace) -> tuple[dict[str, Any], Facts]:
    """What the offline planner decides for the workspace: its deployment.json body and the facts rendering uses."""
    inputs = load(workspace)
    facts = planner.gather(inputs)
    assert isinstance(facts, Facts), facts
    return planner.build_deployment(inputs, facts), facts


def _implementation(doc: dict[str, Any], service: Service) -> None:
    doc["service"] = {"name": service.name, "endpoints": [f"GET {e}" for e in service.endpoints], "language": service.language}
    if service.port:
        doc["service"]["port"] = service.port
    doc["tasks_completed"] = [{"task_id": "T1", "status": "complete", "files_created": list(service.files), "files_modified": []}]


def _plan(doc: dict[str, Any], service: Service) -> None:
    doc["risks"] = [{"risk": "a regression reaches customers", "likelihood": "low", "impact": service.risk, "mitigation": "tests"}]
    doc["rollback_plan"]["trigger_conditions"] = list(service.triggers)
    doc["test_strategy"] = {"unit_tests": {"framework": {"python": "pytest", "go": "go test", "node": "jest"}[service.language]}}


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
