"""Rules that compare artifacts with each other and with what the implementation declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.validation.violations import Violation, dig, rule

A = "deployment.json"


@rule("cross.probe_endpoints", A, "where implementation.json declares endpoints, the probes use declared endpoints")
def probe_endpoints(deployment: Any, declared: list[str]) -> Iterator[Violation]:
    if not declared:
        return
    for probe in ("readiness", "liveness"):
        endpoint = dig(deployment, "health_checks", probe, "endpoint")
        if isinstance(endpoint, str) and endpoint.rstrip("/") not in declared and endpoint not in declared:
            yield Violation(
                A,
                f"$.health_checks.{probe}.endpoint",
                "cross.probe_endpoints",
                f"{endpoint!r} is not an endpoint the service declares ({', '.join(declared)})",
            )


def check(deployment: Any, declared: list[str]) -> list[Violation]:
    return list(probe_endpoints(deployment, declared))
