"""Policy rules for cicd.yaml, the GitHub Actions workflow: structure, job graph, smoke test, pinning."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.documents import parse_yaml
from agent.errors import InputError
from agent.validation.violations import Violation, as_list, declare, rule

A = "cicd.yaml"
BRANCH_REFS = {"main", "master", "develop", "dev", "trunk", "head", "latest"}
# The oldest major of each action that still runs (older ones use retired Node
# runtimes or retired cache/artifact services).
OLDEST_SUPPORTED_MAJOR = {
    "actions/checkout": 4,
    "actions/setup-python": 5,
    "actions/setup-node": 4,
    "actions/setup-go": 5,
    "actions/setup-java": 4,
    "actions/cache": 4,
    "actions/upload-artifact": 4,
    "actions/download-artifact": 4,
    "actions/github-script": 7,
    "azure/setup-kubectl": 4,
}
_SHA = re.compile(r"^[0-9a-f]{40}$")
_MAJOR = re.compile(r"^v?(\d+)(?:\.\d+)*$")


def _v(path: str, rule_id: str, message: str, severity: Any = "error") -> Violation:
    return Violation(A, path, rule_id, message, severity)


def parse(text: str) -> tuple[Any, list[Violation]]:
    """The workflow as data (YAML 1.2 booleans, so `on` stays a key), or a syntax violation."""
    try:
        return parse_yaml(text, Path(A), yaml12_bools=True), []
    except InputError as err:
        where = f"line {err.line}" + (f":{err.column}" if err.column else "") if err.line else "$"
        return None, [_v("$", SYNTAX, f"{err.problem} ({where})")]


SYNTAX = declare("cicd.yaml_syntax", A, "the workflow is valid YAML with a mapping at the top")


@rule("cicd.structure", A, "`on` and `jobs` are present; every job has `runs-on` (or `uses`) and a list of `steps`")
def structure(doc: dict[Any, Any]) -> Iterator[Violation]:
    if "on" not in doc:
        hint = ' (a YAML 1.1 writer turned the key `on` into `true`: quote it as "on")' if any(k is True for k in doc) else ""
        yield _v("$.on", "cicd.structure", f"no `on` trigger{hint}")
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        yield _v("$.jobs", "cicd.structure", "no `jobs` mapping")
        return
    for name, job in jobs.items():
        if not isinstance(job, dict):
            yield _v(f"$.jobs.{name}", "cicd.structure", "a job must be a mapping")
        elif "uses" not in job and ("runs-on" not in job or not isinstance(job.get("steps"), list)):
            yield _v(f"$.jobs.{name}", "cicd.structure", "job needs `runs-on` and a list of `steps`")


def _jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = doc.get("jobs")
    return {str(k): v for k, v in jobs.items() if isinstance(v, dict)} if isinstance(jobs, dict) else {}


def _needs(job: dict[str, Any]) -> list[str]:
    return [str(n) for n in as_list(job.get("needs")) or ([job["needs"]] if isinstance(job.get("needs"), str) else [])]


def _text(job: dict[str, Any]) -> str:
    parts = [str(job.get("name", "")), str(job.get("environment", ""))]
    for step in as_list(job.get("steps")):
        if isinstance(step, dict):
            parts += [str(step.get("name", "")), str(step.get("run", "")), str(step.get("uses", ""))]
    return "\n".join(parts).lower()


def _is_test(name: str, job: dict[str, Any]) -> bool:
    return "test" in name.lower() and "deploy" not in name.lower()


def _is_deploy(name: str, job: dict[str, Any]) -> bool:
    return "deploy" in name.lower() or "environment" in job


def _is_staging(name: str, job: dict[str, Any]) -> bool:
    env = job.get("environment")
    env_name = env.get("name") if isinstance(env, dict) else env
    return "staging" in name.lower() or str(env_name).lower() == "staging"


@rule("cicd.test_job", A, "a job runs the tests (its id contains `test`)")
def test_job(doc: dict[str, Any]) -> Iterator[Violation]:
    jobs = _jobs(doc)
    if jobs and not any(_is_test(n, j) for n, j in jobs.items()):
        yield _v("$.jobs", "cicd.test_job", "no test job (name one `test`)")


@rule("cicd.staging_job", A, "a job deploys to staging (id contains `staging` or `environment: staging`)")
def staging_job(doc: dict[str, Any]) -> Iterator[Violation]:
    jobs = _jobs(doc)
    if jobs and not any(_is_staging(n, j) and _is_deploy(n, j) for n, j in jobs.items()):
        yield _v("$.jobs", "cicd.staging_job", "no staging deploy job (e.g. `deploy-staging`)")


@rule("cicd.needs_exist", A, "every `needs` names a job of this workflow")
def needs_exist(doc: dict[str, Any]) -> Iterator[Violation]:
    jobs = _jobs(doc)
    for name, job in jobs.items():
        for needed in _needs(job):
            if needed not in jobs:
                yield _v(f"$.jobs.{name}.needs", "cicd.needs_exist", f"needs unknown job {needed!r}")


@rule("cicd.no_cycles", A, "the `needs` graph has no cycles")
def no_cycles(doc: dict[str, Any]) -> Iterator[Violation]:
    jobs = _jobs(doc)
    state: dict[str, int] = {}

    def visit(name: str) -> str | None:
        state[name] = 1
        for needed in _needs(jobs.get(name, {})):
            if state.get(needed) == 1:
                return needed
            if needed in jobs and needed not in state and (found := visit(needed)):
                return found
        state[name] = 2
        return None

    for name in sorted(jobs):
        if name not in state and (loop := visit(name)):
            yield _v(f"$.jobs.{loop}.needs", "cicd.no_cycles", f"job {loop!r} is part of a `needs` cycle")
            return


@rule("cicd.deploy_needs_test", A, "every deploy job reaches the test job through `needs`")
def deploy_needs_test(doc: dict[str, Any]) -> Iterator[Violation]:
    jobs = _jobs(doc)
    tests = {n for n, j in jobs.items() if _is_test(n, j)}
    if not tests:
        return
    for name, job in jobs.items():
        if _is_deploy(name, job) and not (_ancestors(name, jobs) & tests):
            yield _v(
                f"$.jobs.{name}.needs",
                "cicd.deploy_needs_test",
                f"deploy job {name!r} does not depend on the tests ({', '.join(sorted(tests))})",
            )


def _ancestors(name: str, jobs: dict[str, dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    todo = list(_needs(jobs.get(name, {})))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += _needs(jobs.get(current, {}))
    return seen


@rule("cicd.staging_smoke", A, "the staging deploy job runs a smoke test (a step naming `smoke`, or `curl --fail`)")
def staging_smoke(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in _jobs(doc).items():
        if _is_staging(name, job) and _is_deploy(name, job):
            text = _text(job)
            if "smoke" not in text and not re.search(r"curl\s[^\n]*(-f\b|--fail)", text):
                yield _v(f"$.jobs.{name}.steps", "cicd.staging_smoke", "staging deploy has no smoke test step")


@rule(
    "cicd.action_pinning",
    A,
    "actions are pinned to a current major or a commit SHA, never a branch (`@main`) or a retired major (`actions/checkout@v3`)",
)
def action_pinning(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in _jobs(doc).items():
        refs = [(f"$.jobs.{name}.uses", job.get("uses"))]
        refs += [(f"$.jobs.{name}.steps[{i}].uses", s.get("uses")) for i, s in enumerate(as_list(job.get("steps"))) if isinstance(s, dict)]
        for path, uses in refs:
            if isinstance(uses, str) and (problem := _pin_problem(uses)):
                yield _v(path, "cicd.action_pinning", problem)


def _pin_problem(uses: str) -> str | None:
    if uses.startswith(("./", "docker://")):
        return None
    action, _, ref = uses.partition("@")
    if not ref:
        return f"{uses!r} is not pinned: add @<major> or @<commit sha>"
    if ref.lower() in BRANCH_REFS:
        return f"{uses!r} follows a branch; pin a release major or a commit SHA"
    major = _MAJOR.match(ref)
    oldest = OLDEST_SUPPORTED_MAJOR.get(action.lower())
    if major and oldest and int(major.group(1)) < oldest and not _SHA.match(ref):
        return f"{uses!r} is a retired major; use {action}@v{oldest} or newer"
    return None


@rule("cicd.hygiene", A, "`permissions`, `concurrency`, deploy `environment` and `timeout-minutes` are set", "warning")
def hygiene(doc: dict[str, Any]) -> Iterator[Violation]:
    if "permissions" not in doc:
        yield _v(
            "$.permissions",
            "cicd.hygiene",
            "no top-level `permissions`: the token gets the repository default",
            "warning",
        )
    jobs = _jobs(doc)
    if "concurrency" not in doc and not any("concurrency" in j for j in jobs.values()):
        yield _v("$.concurrency", "cicd.hygiene", "no `concurrency`: two pushes can deploy at once", "warning")
    for name, job in jobs.items():
        if _is_deploy(name, job) and "environment" not in job:
            yield _v(
                f"$.jobs.{name}.environment",
                "cicd.hygiene",
                "deploy job has no `environment` (no protection rules or secrets scoping)",
                "warning",
            )
        if "timeout-minutes" not in job and "uses" not in job:
            yield _v(
                f"$.jobs.{name}.timeout-minutes",
                "cicd.hygiene",
                "no `timeout-minutes` (the default is 6 hours)",
                "warning",
            )


CHECKS = (
    structure,
    test_job,
    staging_job,
    needs_exist,
    no_cycles,
    deploy_needs_test,
    staging_smoke,
    action_pinning,
    hygiene,
)


def check(text: str) -> list[Violation]:
    doc, problems = parse(text)
    if problems:
        return problems
    if not isinstance(doc, dict):
        return [_v("$", SYNTAX, "the workflow must be a YAML mapping")]
    return [v for c in CHECKS for v in c(doc)]
