"""Reading a GitHub Actions workflow for the cicd rules: jobs, steps, needs, environments, scripts and the paths they apply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from agent.validation.violations import Severity, Violation, as_list

A = "cicd.yaml"
ENVIRONMENTS = ("dev", "staging", "production")
_ENV_WORDS = {"dev": ("dev", "development"), "staging": ("staging", "stage", "stg"), "production": ("production", "prod", "prd")}
_APPLIES = re.compile(
    r"\bkubectl\b[^\n]*\b(?:apply|create|replace)\b|\bhelm\s+(?:upgrade|install)\b|\bkustomize\s+build\b|\bkubectl\b[^\n]*\bset\s+image\b"
)
_MANIFEST = re.compile(r"(?<![\w$.{/-])((?:[\w.-]+/)*k8s/([\w.-]+))")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def violation(path: str, rule_id: str, message: str, severity: Severity = "error") -> Violation:
    return Violation(A, path, rule_id, message, severity)


def jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = doc.get("jobs")
    return {str(k): v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def needs(job: dict[str, Any]) -> list[str]:
    return [str(n) for n in as_list(job.get("needs")) or ([job["needs"]] if isinstance(job.get("needs"), str) else [])]


def steps(job: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, s) for i, s in enumerate(as_list(job.get("steps"))) if isinstance(s, dict)]


def environment(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    name = env.get("name") if isinstance(env, dict) else env
    return str(name) if isinstance(name, str) else None


def stage_of(name: str, job: dict[str, Any]) -> str | None:
    """The environment a job is for: its `environment`, else a word of its id (`deploy-prod`)."""
    declared = (environment(job) or "").lower()
    words = set(re.split(r"[^a-z]+", f"{name} {job.get('name', '')}".lower()))
    for stage, synonyms in _ENV_WORDS.items():
        if declared in synonyms or (not declared and words & set(synonyms)):
            return stage
    return None


def scripts(job: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(JSON path, script) of every `run:` in a job."""
    for i, step in steps(job):
        if isinstance(step.get("run"), str):
            yield f"[{i}].run", step["run"]


def script_text(doc: dict[str, Any], job: dict[str, Any], resolve: bool = False) -> str:
    """All of a job's scripts, with `$VAR` replaced by the `env:` value that sets it when ``resolve``."""
    parts = []
    outer = _env(doc) | _env(job) if resolve else {}
    for _, step in steps(job):
        if isinstance(step.get("run"), str):
            run = step["run"].replace("\\\n", " ")
            parts.append(_resolve(run, tuple((outer | _env(step)).items())) if resolve else run)
    return "\n".join(parts)


def applies(doc: dict[str, Any], job: dict[str, Any]) -> bool:
    return bool(_APPLIES.search(script_text(doc, job)))


def manifest_paths(doc: dict[str, Any], job: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, environment folder) of every `.../k8s/<folder>` a job's scripts name, env variables resolved."""
    return list(_manifest_paths_in(script_text(doc, job, resolve=True)))


@lru_cache(maxsize=64)
def _manifest_paths_in(script: str) -> tuple[tuple[str, str], ...]:
    # Several rules ask of the same job; the search backtracks over every word, so each script is searched once.
    return tuple((m.group(1).rstrip("/"), m.group(2)) for m in _MANIFEST.finditer(script)) if "k8s/" in script else ()


def expressions(value: Any) -> Iterator[str]:
    """The inside of every `${{ ... }}` in a value, nested values included."""
    if isinstance(value, str):
        yield from (m.group(1) for m in re.finditer(r"\$\{\{(.*?)\}\}", value, re.S))
    elif isinstance(value, dict):
        for v in value.values():
            yield from expressions(v)
    elif isinstance(value, list):
        for v in value:
            yield from expressions(v)


def timeout(job: dict[str, Any]) -> float | None:
    value = job.get("timeout-minutes")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _env(block: dict[str, Any]) -> dict[str, str]:
    env = block.get("env")
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


@lru_cache(maxsize=64)
def _resolve(script: str, env: tuple[tuple[str, str], ...]) -> str:
    # Several rules read the same job's scripts: each script is resolved once per environment it runs in.
    values = dict(env)
    return _VAR.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), script)
