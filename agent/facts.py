"""What the stage knows about the service it ships (names, endpoints, language, gates), and what it had to assume.

Everything here that later reaches a workflow, a manifest or a runbook is reduced to a safe form on the way in:
names are DNS-1123 labels, paths are plain relative paths, versions are digits and dots, gates are known tool names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from agent.upstream import Implementation, Plan
    from agent.workspace import Workspace

Language = Literal["python", "go", "node", "unknown"]
CLASSIC_ARTIFACTS = "consensus/artifacts"
DEFAULT_VERSION = {"python": "3.12", "go": "stable", "node": "lts/*"}
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")
_VERSION = re.compile(r"\d+(?:\.\d+){0,2}")
_DECLARED = re.compile(
    r"\b(python|golang|go|node(?:\.?js)?|typescript|javascript)(?![a-z])\s*(?:v(?:ersion)?\s*)?[=@>~^ ]*(\d+(?:\.\d+){0,2})?", re.I
)
_EXTENSIONS = {".py": "python", ".go": "go", ".js": "node", ".mjs": "node", ".cjs": "node", ".ts": "node", ".tsx": "node"}
_FRAMEWORKS = {"pytest": "python", "unittest": "python", "go test": "go", "jest": "node", "vitest": "node", "mocha": "node"}
_KEY_LANGUAGE = {"python_version": "python", "go_version": "go", "node_version": "node"}
_LANGUAGE_KEYS = ("language", "runtime", "language_version", "python_version", "go_version", "node_version", "tech_stack", "stack")


@dataclass(frozen=True)
class CiGates:
    """The plan's CI gates, reduced to what we know how to run; the text of a gate never reaches a shell."""

    coverage: int | None = None
    lint: tuple[str, ...] = ()
    type_check: str | None = None
    security: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


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
    language: Language = "unknown"
    language_version: str | None = None
    """``3.12``, ``1.22``, ``20``, or a setup action's alias (``stable``, ``lts/*``); never upstream text."""
    version_file: str | None = None
    """A plain relative path such as ``go.mod`` when the toolchain version is read from a file."""
    ci_gates: CiGates = field(default_factory=CiGates)
    artifacts_dir: str = CLASSIC_ARTIFACTS
    """consensus/artifacts relative to the repository root (``docs/specs/epic_NN/consensus/artifacts`` per epic)."""
    port: int | None = None
    metrics_path: str | None = None
    epic: str = "epic"
    """The epic id when it is a plain identifier, else its DNS label: safe in comments and names."""
    iteration: int = 0
    rollback_steps: list[str] = field(default_factory=list)
    """plan.json's own rollback procedure, as written upstream: renderers neutralise it."""


def is_safe_path(text: str) -> bool:
    """A plain relative path we may put on a command line: ``[A-Za-z0-9._/-]+``, no ``..``, not absolute, no leading ``-``."""
    return bool(_SAFE_PATH.fullmatch(text)) and not text.startswith(("/", "-")) and ".." not in text.split("/")


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def artifacts_dir(workspace: Workspace) -> str:
    """Where the workflow finds the artifacts, relative to the repository root, for either layout."""
    if workspace.layout == "classic":
        return CLASSIC_ARTIFACTS
    return f"docs/specs/{workspace.consensus.parent.name}/consensus/artifacts"


def declared_port(impl: Implementation) -> int | None:
    port = impl.service.port if impl.service else None
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port.strip())
    return port if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535 else None


def language(impl: Implementation, plan: Plan, files: list[str], assumptions: list[str]) -> tuple[Language, str | None, str | None]:
    """(language, version, version file): what is declared first, then what the files and test frameworks show."""
    name, version = _declared_language(impl, plan)
    if name == "unknown":
        name = _language_from_files(files) or _language_from_frameworks(plan)
    version_file = None
    if name == "go" and not version:
        version_file = next((f for f in files if basename(f) == "go.mod" and is_safe_path(f)), None)
    if name != "unknown" and not version and not version_file:
        version = DEFAULT_VERSION[name]
        assumptions.append(f"{name} version not declared; the test job uses {version}")
    if name == "unknown":
        assumptions.append("language not recognised; the test job runs `make test` with the runner's tools")
    return name, version, version_file


def _declared_language(impl: Implementation, plan: Plan) -> tuple[Language, str | None]:
    sources = [impl.model_extra or {}, (impl.service.model_extra or {}) if impl.service else {}, plan.model_extra or {}]
    for source in sources:
        # "python_version: 3.12" says its language in the key; "language: python" + "language_version: 3.12" in two values.
        words = [f"{_KEY_LANGUAGE.get(key, '')} {source[key]}" for key in _LANGUAGE_KEYS if key in source]
        found = _parse_language(" ".join(words))
        if found[0] != "unknown":
            return found
    return "unknown", None


def _parse_language(text: str) -> tuple[Language, str | None]:
    match = _DECLARED.search(text)
    if not match:
        return "unknown", None
    word = match.group(1).lower()
    name: Language = "python" if word == "python" else "go" if word in {"go", "golang"} else "node"
    version = match.group(2) if match.group(2) and _VERSION.fullmatch(match.group(2)) else None
    return name, version


def _language_from_files(files: list[str]) -> Language | None:
    counts = {"python": 0, "go": 0, "node": 0}
    for f in files:  # string operations: a 13 MB implementation.json lists 80,000 paths
        name = basename(f)
        suffix = name[name.rfind(".") :] if "." in name.lstrip(".") else ""
        kind = "go" if name == "go.mod" else "node" if name == "package.json" else _EXTENSIONS.get(suffix)
        if kind in counts:
            counts[kind] += 1
    best = max(sorted(counts), key=lambda k: counts[k])
    return _as_language(best) if counts[best] else None


def _language_from_frameworks(plan: Plan) -> Language:
    text = str(plan.test_strategy).lower()
    return _as_language(next((lang for word, lang in _FRAMEWORKS.items() if word in text), "unknown"))


def _as_language(name: str) -> Language:
    return "python" if name == "python" else "go" if name == "go" else "node" if name == "node" else "unknown"


_LINTERS = ("black", "ruff", "flake8", "pylint", "gofmt", "go vet", "golangci-lint", "eslint", "prettier")
_TYPE_CHECKERS = ("mypy --strict", "mypy", "pyright", "tsc")
_SECURITY = ("bandit", "pip-audit", "govulncheck", "gosec", "npm audit")


def ci_gates(plan: Plan) -> CiGates:
    """Every ``ci_gates`` mapping of the plan's stages, merged and mapped to tools we know; the rest is listed as unknown."""
    merged: dict[str, Any] = {}
    for stage in plan.stages:
        if isinstance(stage, dict) and isinstance(stage.get("ci_gates"), dict):
            merged |= stage["ci_gates"]
    coverage = merged.get("test_coverage")
    known = {"test_coverage", "linting", "type_check", "security_scan"}
    type_text = str(merged.get("type_check", "")).lower()
    return CiGates(
        coverage=coverage if isinstance(coverage, int) and not isinstance(coverage, bool) and 0 <= coverage <= 100 else None,
        lint=_tools(merged.get("linting"), _LINTERS),
        type_check=next((t for t in _TYPE_CHECKERS if t in type_text), None),
        security=_tools(merged.get("security_scan"), _SECURITY),
        unknown=tuple(sorted(k for k in merged if k not in known and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(k)))),
    )


def _tools(value: Any, known: tuple[str, ...]) -> tuple[str, ...]:
    text = str(value or "").lower()
    return tuple(t for t in known if t in text)


_LIVE = ("livez", "live", "liveness", "alive")
_READY = ("readyz", "ready", "readiness")
_HEALTH = ("healthz", "health", "healthcheck", "health-check", "health_check", "ping", "status")


def choose_probes(declared: list[str]) -> tuple[str, str] | None:
    """(readiness, liveness) among declared endpoints, by whole path segments (`/deliveries/{id}` is no `live`).

    Templated paths are never probes. Readiness prefers a readiness endpoint, liveness a liveness endpoint (so a
    dependency outage does not restart pods); each falls back to a generic health endpoint, then to the other's.
    """
    concrete = [e for e in declared if not is_templated(e)]
    ready, live, health = _best(concrete, _READY), _best(concrete, _LIVE), _best(concrete, _HEALTH)
    readiness, liveness = ready or health or live, live or health or ready
    return (readiness, liveness) if readiness and liveness else None


def is_templated(path: str) -> bool:
    return any(c in path for c in "{}<>*") or any(s.startswith(":") for s in path.split("/"))


def _best(paths: list[str], words: tuple[str, ...]) -> str | None:
    ranked = []
    for path in paths:
        segments = _segments(path)
        if segments & set(words):
            ranked.append((min(words.index(s) for s in segments if s in words), len(segments), path))
    return min(ranked)[2] if ranked else None


def _segments(path: str) -> set[str]:
    return {s.lower() for s in path.split("/") if s}


def declared_metrics_path(impl: Implementation) -> str | None:
    from agent.upstream import endpoint_path

    path = endpoint_path(impl.service.metrics_endpoint) if impl.service and impl.service.metrics_endpoint else None
    return path if path and re.fullmatch(r"(?:/[A-Za-z0-9._~-]+)+", path) else None
