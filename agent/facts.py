"""What the stage knows about the service it ships (names, endpoints, language, gates), and what it had to assume.

Everything here that later reaches a workflow, a manifest or a runbook is reduced to a safe form on the way in:
names are DNS-1123 labels, paths are plain relative paths, versions are digits and dots, gates are known tool names.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from itertools import chain, compress, repeat
from operator import contains, itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from agent.names import dns_label, is_plain_path

if TYPE_CHECKING:
    from agent.upstream import Implementation, Plan
    from agent.workspace import Workspace

Language = Literal["python", "go", "node", "unknown"]
CLASSIC_ARTIFACTS = "consensus/artifacts"
DEFAULT_VERSION = {"python": "3.12", "go": "stable", "node": "lts/*"}
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")
_SAFE_LINES = re.compile(r"[A-Za-z0-9._/\n-]*")
"""``_SAFE_PATH``'s characters on lines (paths joined by newlines): one pass of a character set, ~2 ms on 80,000 paths."""
_BAD_LINE_START = re.compile(r"\n[\n/-]")
"""A line after the first that is empty or starts with ``/`` or ``-``."""
_DOTDOT_SEGMENTS = ("/../", "\n../", "/..\n", "\n..\n")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,2}")  # ASCII digits: \d matches any script's
_DECLARED = re.compile(
    r"\b(python|golang|go|node(?:\.?js)?|typescript|javascript)(?![a-z])\s*(?:v(?:ersion)?\s*)?[=@>~^ ]*([0-9]+(?:\.[0-9]+){0,2})?", re.I
)
_EXTENSIONS = {".py": "python", ".go": "go", ".js": "node", ".mjs": "node", ".cjs": "node", ".ts": "node", ".tsx": "node"}
_FRAMEWORKS = {"pytest": "python", "unittest": "python", "go test": "go", "jest": "node", "vitest": "node", "mocha": "node"}
_KEY_LANGUAGE = {"python_version": "python", "go_version": "go", "node_version": "node"}
_LANGUAGE_KEYS = ("language", "runtime", "language_version", "python_version", "go_version", "node_version", "tech_stack", "stack")


class CiGates(NamedTuple):
    """The plan's CI gates, reduced to what we know how to run; the text of a gate never reaches a shell."""

    coverage: int | None = None
    lint: tuple[str, ...] = ()
    type_check: str | None = None
    security: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


class Facts(NamedTuple):
    """What the planner knows about the service, and what it had to assume (``assumptions`` grows as it plans).

    Every field is given (no defaults): the planner describes the service whole, and no two plans share a list.
    """

    service: str
    app: str
    title: str
    readiness: str
    liveness: str
    endpoints: list[str]
    dependencies: list[str]
    source_dir: str
    python: bool
    assumptions: list[str]
    language: Language
    language_version: str | None
    """``3.12``, ``1.22``, ``20``, or a setup action's alias (``stable``, ``lts/*``); never upstream text."""
    version_file: str | None
    """A plain relative path such as ``go.mod`` when the toolchain version is read from a file."""
    ci_gates: CiGates
    artifacts_dir: str
    """consensus/artifacts relative to the repository root (``docs/specs/epic_NN/consensus/artifacts`` per epic)."""
    port: int | None
    metrics_path: str | None
    epic: str
    """The epic id when it is a plain identifier, else its DNS label: safe in comments and names."""
    iteration: int
    rollback_steps: list[str]
    """plan.json's own rollback procedure, as written upstream: renderers neutralise it."""


def is_safe_path(text: str) -> bool:
    """A plain relative path we may put on a command line: ``[A-Za-z0-9._/-]+``, no ``..``, not absolute, no leading ``-``."""
    return bool(_SAFE_PATH.fullmatch(text)) and not text.startswith(("/", "-")) and (".." not in text or ".." not in text.split("/"))


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def as_list(value: Any) -> list[Any]:
    """How upstream lists are read: a missing value is empty, a single value is a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


_ENDPOINT = re.compile(r"(?:^|\s)(/[A-Za-z0-9._~/{}:-]*)")


def endpoint_path(value: Any) -> str | None:
    """``"/health"``, ``"GET /health"`` or ``{"path": "/health"}`` → ``"/health"``."""
    if isinstance(value, dict):
        value = value.get("path") or value.get("endpoint") or value.get("route")
    if not isinstance(value, str):
        return None
    match = _ENDPOINT.search(value.strip())
    return match.group(1).rstrip("/") or "/" if match else None


_DICT = frozenset((dict,))
_LIST_OR_NONE = frozenset((list, type(None)))


def task_files(tasks: list[Any]) -> tuple[str, ...]:
    """Every file the tasks created or modified (``files_created``, ``files_modified``: a path or a list), in order."""
    fast = _listed_files(tasks)
    if fast is not None:
        return fast
    found: list[str] = []
    for task in tasks:
        if isinstance(task, dict):
            for key in ("files_created", "files_modified"):
                found += [f for f in as_list(task.get(key)) if isinstance(f, str)]
    return tuple(found)


def _listed_files(tasks: list[Any]) -> tuple[str, ...] | None:
    """``task_files`` in C passes (40,000 tasks: ~10 ms, not ~19), or None unless every task is an exact dict and every
    value an exact list or missing, the shape JSON gives; ``dict.get`` is then the tasks' own ``get``."""
    if not {*map(type, tasks)} <= _DICT:
        return None
    created, modified = (map(dict.get, tasks, repeat(key)) for key in ("files_created", "files_modified"))
    values = [*chain.from_iterable(zip(created, modified, strict=True))]
    if not {*map(type, values)} <= _LIST_OR_NONE:
        return None
    items = [*chain.from_iterable(filter(None, values))]
    return tuple(compress(items, map(isinstance, items, repeat(str))))


def declared_endpoints(listed: list[Any]) -> list[str]:
    """The endpoint paths among what implementation.json declares (``service.endpoints`` and top-level ``endpoints``)."""
    return sorted({p for p in map(endpoint_path, listed) if p})


def service_name(declared: str | None, files: FileFacts, epic_id: str, assumptions: list[str]) -> tuple[str, str]:
    """(service, app): the declared name, else the folder of a health file, else the epic id; ``app`` is its DNS label.

    The epic's title is a sentence, never a service name.
    """
    name = declared.strip() if declared and declared.strip() else None
    hinted = files.app_hint
    if hinted:
        assumptions.append(f"service name read from {hinted[1]!r}")
    fallback = dns_label(hinted[0] if hinted else epic_id, "app")
    app = dns_label(name, fallback) if name else fallback
    if not name:
        assumptions.append(f"service name not declared; using {app!r}")
    return name or app, app


class Named(Protocol):
    """What the derived files are rendered with besides the plan: the service's DNS name and where the artifacts live."""

    @property
    def app(self) -> str: ...

    @property
    def artifacts_dir(self) -> str: ...


class Names(NamedTuple):
    """``Named`` read straight from implementation.json (``read_names``): what ``validate`` needs, without the typed models."""

    app: str
    artifacts_dir: str
    endpoints: list[str]


def read_names(implementation: Any, epic_id: str, workspace: Workspace) -> Names:
    """The app name and declared endpoints from implementation.json as parsed JSON, read as the typed model reads them.

    ``epic_id`` names the service when neither implementation.json nor its files do (the plan's own ``epic_id``).
    """
    impl = implementation if isinstance(implementation, dict) else {}
    raw_service = impl.get("service")
    service: dict[str, Any] = raw_service if isinstance(raw_service, dict) else {}
    files = file_facts(task_files(as_list(impl.get("tasks_completed"))))
    app = service_name(as_text(service.get("name")), files, epic_id, [])[1]
    endpoints = declared_endpoints(as_list(service.get("endpoints")) + as_list(impl.get("endpoints")))
    return Names(app, artifacts_dir(workspace), endpoints)


_SOURCE_TOPS = {"src", "app", "lib", "cmd", "internal"}


class FileFacts(NamedTuple):
    """What implementation.json's file list shows, read in one pass (a 13 MB one lists 80,000 paths)."""

    files: tuple[str, ...]
    """The plain relative paths (``is_safe_path``), in order; the others are only counted."""
    ignored: int
    language: Language | None
    """The language most files are written in (by extension, ``go.mod``, ``package.json``), if any."""
    go_mod: str | None
    source_dir: str
    """The most common top-level folder of the files that is not tests or docs (``src`` when there is none)."""
    app_hint: tuple[str, str] | None
    """(name, path): the folder of the first ``src|app|lib|cmd|internal/…/*health*`` file, the service's likely name."""
    health_file: str | None
    """The first file whose name (before any dot) mentions health."""


@lru_cache(maxsize=8)
def file_facts(listed: tuple[str, ...]) -> FileFacts:
    """The facts from C-level string work (80,000 paths: ~35 ms, was ~70): no Python call per path but on a slow path.

    Each step gives what the per-path definition (``is_safe_path``, ``basename``, ``_file_language``) gives.
    """
    files = tuple(listed) if all_safe_paths(listed) else tuple(f for f in listed if is_safe_path(f))
    # basename(f) for every file: rstrip and rpartition mapped in C.
    names = [*map(itemgetter(2), map(str.rpartition, map(str.rstrip, files, repeat("/")), repeat("/")))]
    kinds = _language_counts(names)
    language = max(sorted(kinds), key=lambda k: kinds[k]) if kinds else None
    # The first folder of each file that has one.
    sources = Counter(map(itemgetter(0), map(str.partition, compress(files, map(contains, files, repeat("/"))), repeat("/"))))
    for skipped in ("", ".", "tests", "test", "docs"):
        sources.pop(skipped, None)
    return FileFacts(
        files=files,
        ignored=len(listed) - len(files),
        language=_as_language(language) if language else None,
        go_mod=files[names.index("go.mod")] if "go.mod" in names else None,
        source_dir=max(sorted(sources), key=sources.__getitem__) if sources else "src",
        app_hint=next(filter(None, map(_app_hint, compress(files, map(contains, files, repeat("health"))))), None),
        health_file=_health_file(files, names),
    )


def all_safe_paths(paths: tuple[str, ...]) -> bool:
    """Whether ``is_safe_path`` holds for every path, proved on the paths joined by newlines in a few C passes.

    Exact: as many newlines as separators means no path holds one, so the lines are the paths. Then each rule of
    ``is_safe_path`` is checked on every line at once: the characters, no line empty or starting with ``/`` or ``-``
    (the first line at the start, the last at the end), no ``..`` segment (``..`` between ``/`` or line ends).
    False when a path is not safe: the caller then asks path by path.
    """
    if not paths:
        return True
    joined = "\n".join(paths)
    if joined.count("\n") != len(paths) - 1 or not _SAFE_LINES.fullmatch(joined):
        return False
    if joined[:1] in ("", "\n", "/", "-") or joined.endswith("\n") or _BAD_LINE_START.search(joined):
        return False
    if ".." not in joined:
        return True
    padded = f"\n{joined}\n"
    return not any(segment in padded for segment in _DOTDOT_SEGMENTS)


def _language_counts(names: list[str]) -> Counter[str]:
    """``Counter`` of ``_file_language`` over ``names`` (safe basenames, no newline), without a call per name.

    ``_file_language``'s suffix is the last dot's when a dot follows the leading dots: with those stripped, a name
    whose line ends in ``.py`` is exactly one whose suffix is ``.py`` (no suffix holds a dot or a newline).
    """
    stripped = "\n".join(map(str.lstrip, names, repeat("."))) + "\n"
    kinds = Counter({"go": names.count("go.mod"), "node": names.count("package.json")})
    for suffix, kind in _EXTENSIONS.items():
        kinds[kind] += stripped.count(suffix + "\n")
    return +kinds


def _health_file(files: tuple[str, ...], names: list[str]) -> str | None:
    """The first file whose name before any dot mentions health, any case.

    Only a name that holds ``health`` once lower-cased can: those are found in C, the exact test runs on them alone.
    """
    candidates = compress(zip(files, names, strict=True), map(contains, map(str.lower, names), repeat("health")))
    return next((f for f, n in candidates if "health" in n.split(".")[0].lower()), None)


def _file_language(name: str) -> str | None:
    if name == "go.mod":
        return "go"
    if name == "package.json":
        return "node"
    suffix = name[name.rfind(".") :] if "." in name.lstrip(".") else ""
    return _EXTENSIONS.get(suffix)


def _app_hint(path: str) -> tuple[str, str] | None:
    parts = [p for p in path.split("/") if p not in {"", "."}]
    if len(parts) >= 3 and parts[0] in _SOURCE_TOPS and "health" in parts[-1]:
        return parts[-2], path
    return None


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


def language(impl: Implementation, plan: Plan, files: FileFacts, assumptions: list[str]) -> tuple[Language, str | None, str | None]:
    """(language, version, version file): what is declared first, then what the files and test frameworks show."""
    name, version = _declared_language(impl, plan)
    if name == "unknown":
        name = files.language or _language_from_frameworks(plan)
    version_file = files.go_mod if name == "go" and not version else None
    if name != "unknown" and not version and not version_file:
        version = DEFAULT_VERSION[name]
        assumptions.append(f"{name} version not declared; the test job uses {version}")
    if name == "unknown":
        assumptions.append("language not recognised; the test job runs `make test` with the runner's tools")
    return name, version, version_file


def _declared_language(impl: Implementation, plan: Plan) -> tuple[Language, str | None]:
    sources = [impl.extra, impl.service.extra if impl.service else {}, plan.extra]
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

    Only plain paths are probes: never a templated one, nor one with a character a workflow's command refuses (`:`).
    Readiness prefers a readiness endpoint, liveness a liveness endpoint (so a dependency outage does not restart
    pods); each falls back to a generic health endpoint, then to the other's.
    """
    concrete = [e for e in declared if is_plain_path(e)]
    ready, live, health = _best(concrete, _READY), _best(concrete, _LIVE), _best(concrete, _HEALTH)
    readiness, liveness = ready or health or live, live or health or ready
    return (readiness, liveness) if readiness and liveness else None


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
    path = endpoint_path(impl.service.metrics_endpoint) if impl.service and impl.service.metrics_endpoint else None
    return path if path and re.fullmatch(r"(?:/[A-Za-z0-9._~-]+)+", path) else None
