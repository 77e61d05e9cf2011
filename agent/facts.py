"""What the stage knows about the service it ships (names, endpoints, language), and what it had to assume."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Facts:
    """What the planner knows about the service, and what it had to assume."""

    service: str
    app: str
    title: str
    readiness: str
    liveness: str
    endpoints: list[str]
    dependencies: list[str]
    source_dir: str
    python: bool
    assumptions: list[str] = field(default_factory=list)
