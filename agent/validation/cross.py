"""Rules that compare artifacts with each other and with what the implementation declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.validation.violations import Violation, dig, rule

A = "deployment.json"
PROBES = ("readiness", "liveness")
# Path segments that name a probe role: /livez, /live, /healthz/live, /health/readiness, ...
ROLE_WORDS = {"liveness": frozenset({"livez", "live", "liveness", "alive"}), "readiness": frozenset({"readyz", "ready", "readiness"})}


def role_of(path: str) -> str | None:
    """``"liveness"`` or ``"readiness"`` when a whole segment of the path names that role (and not the other)."""
    segments = {s.lower() for s in path.split("/") if s}
    roles = [role for role, words in ROLE_WORDS.items() if segments & words]
    return roles[0] if len(roles) == 1 else None


@rule("cross.probe_endpoints", A, "where implementation.json declares endpoints, the probes use declared endpoints")
def probe_endpoints(deployment: Any, declared: list[str]) -> Iterator[Violation]:
    if not declared:
        return
    for probe in PROBES:
        endpoint = dig(deployment, "health_checks", probe, "endpoint")
        if isinstance(endpoint, str) and endpoint.rstrip("/") not in declared and endpoint not in declared:
            yield Violation(
                A,
                f"$.health_checks.{probe}.endpoint",
                "cross.probe_endpoints",
                f"{endpoint!r} is not an endpoint the service declares ({', '.join(declared)})",
            )


@rule(
    "cross.probe_roles",
    A,
    "a probe uses the endpoint declared for its role if there is one (liveness `/livez`, `/live`, `/healthz/live`…; readiness `/readyz`…)",
)
def probe_roles(deployment: Any, declared: list[str]) -> Iterator[Violation]:
    for probe in PROBES:
        endpoint = dig(deployment, "health_checks", probe, "endpoint")
        fitting = [e for e in declared if role_of(e) == probe]
        if isinstance(endpoint, str) and fitting and role_of(endpoint) != probe:
            # A liveness probe on a readiness or business route restarts pods when a dependency is slow.
            yield Violation(
                A,
                f"$.health_checks.{probe}.endpoint",
                "cross.probe_roles",
                f"the {probe} probe uses {endpoint!r} although the service declares {fitting[0]!r} for it",
            )


def check(deployment: Any, declared: list[str]) -> list[Violation]:
    return [*probe_endpoints(deployment, declared), *probe_roles(deployment, declared)]
