"""Policy rules for cicd.yaml, the GitHub Actions workflow: structure, keys, job graph, smoke test, hygiene; ``check`` runs them all.

The security rules live in ``cicd_security``, the rules that compare the workflow with the plan in ``cicd_plan``, and the
real linters (actionlint with shellcheck, zizmor) in ``external``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.documents import parse_yaml
from agent.errors import InputError
from agent.rendering.memo import WORKFLOWS
from agent.validation import cicd_plan, cicd_security, external
from agent.validation.actions import A, jobs, needs, steps
from agent.validation.actions import violation as _v
from agent.validation.violations import Violation, declare, rule

WORKFLOW_KEYS = ("name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs")
JOB_KEYS = (
    "name", "permissions", "needs", "if", "runs-on", "snapshot", "environment", "concurrency", "outputs", "env", "defaults",
    "steps", "timeout-minutes", "strategy", "continue-on-error", "container", "services", "uses", "with", "secrets",
)  # fmt: skip
STEP_KEYS = ("id", "if", "name", "uses", "run", "working-directory", "shell", "with", "env", "continue-on-error", "timeout-minutes")


def parse(text: str) -> tuple[Any, list[Violation]]:
    """The workflow as data (YAML 1.2 booleans, so `on` stays a key), or a syntax violation."""
    if (rendered := WORKFLOWS.of(text)) is not None:  # exactly what the renderer wrote: its document, not a parse of it
        return rendered[0], []
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
    found = doc.get("jobs")
    if not isinstance(found, dict) or not found:
        yield _v("$.jobs", "cicd.structure", "no `jobs` mapping")
        return
    for name, job in found.items():
        if not isinstance(job, dict):
            yield _v(f"$.jobs.{name}", "cicd.structure", "a job must be a mapping")
        elif "uses" not in job and ("runs-on" not in job or not isinstance(job.get("steps"), list)):
            yield _v(f"$.jobs.{name}", "cicd.structure", "job needs `runs-on` and a list of `steps`")


@rule("cicd.unknown_keys", A, "every workflow, job and step key is one GitHub knows (a misspelt `enviroment` would protect nothing)")
def unknown_keys(doc: dict[Any, Any]) -> Iterator[Violation]:
    yield from _unknown(doc, WORKFLOW_KEYS, "$", "workflow")
    for name, job in jobs(doc).items():
        yield from _unknown(job, JOB_KEYS, f"$.jobs.{name}", "job")
        for i, step in steps(job):
            yield from _unknown(step, STEP_KEYS, f"$.jobs.{name}.steps[{i}]", "step")


def _unknown(block: dict[Any, Any], known: tuple[str, ...], path: str, what: str) -> Iterator[Violation]:
    for key in block:
        if str(key) not in known:
            import difflib  # only to suggest a name for a misspelt key: a valid workflow never pays for it

            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            yield _v(f"{path}.{key}", "cicd.unknown_keys", f"`{key}` is not a {what} key{hint}")


def _is_test(name: str, job: dict[str, Any]) -> bool:
    return "test" in name.lower() and "deploy" not in name.lower()


def is_deploy(name: str, job: dict[str, Any]) -> bool:
    return "deploy" in name.lower() or "environment" in job


def _is_staging(name: str, job: dict[str, Any]) -> bool:
    env = job.get("environment")
    env_name = env.get("name") if isinstance(env, dict) else env
    return "staging" in name.lower() or str(env_name).lower() == "staging"


@rule("cicd.test_job", A, "a job runs the tests (its id contains `test`)")
def test_job(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    if found and not any(_is_test(n, j) for n, j in found.items()):
        yield _v("$.jobs", "cicd.test_job", "no test job (name one `test`)")


@rule("cicd.staging_job", A, "a job deploys to staging (id contains `staging` or `environment: staging`)")
def staging_job(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    if found and not any(_is_staging(n, j) and is_deploy(n, j) for n, j in found.items()):
        yield _v("$.jobs", "cicd.staging_job", "no staging deploy job (e.g. `deploy-staging`)")


@rule("cicd.needs_exist", A, "every `needs` names a job of this workflow")
def needs_exist(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    for name, job in found.items():
        for needed in needs(job):
            if needed not in found:
                yield _v(f"$.jobs.{name}.needs", "cicd.needs_exist", f"needs unknown job {needed!r}")


@rule("cicd.no_cycles", A, "the `needs` graph has no cycles")
def no_cycles(doc: dict[str, Any]) -> Iterator[Violation]:
    loop = _first_cycle(jobs(doc))
    if loop is not None:
        yield _v(f"$.jobs.{loop}.needs", "cicd.no_cycles", f"job {loop!r} is part of a `needs` cycle")


def _first_cycle(found: dict[str, dict[str, Any]]) -> str | None:
    """A job on the first `needs` cycle a depth-first walk from the sorted job ids meets, else None.

    An explicit stack, not recursion: a chain of thousands of jobs (a long soak is split into one job per 5 hours)
    would exceed Python's recursion limit.
    """
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    for root in sorted(found):
        if root in state:
            continue
        state[root] = 1
        path = [(root, iter(needs(found[root])))]
        while path:
            name, pending = path[-1]
            for needed in pending:
                if state.get(needed) == 1:
                    return needed
                if needed in found and needed not in state:
                    state[needed] = 1
                    path.append((needed, iter(needs(found[needed]))))
                    break
            else:
                state[name] = 2
                path.pop()
    return None


@rule("cicd.deploy_needs_test", A, "every deploy job reaches the test job through `needs`")
def deploy_needs_test(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    tests = {n for n, j in found.items() if _is_test(n, j)}
    if not tests:
        return
    for name, job in found.items():
        if is_deploy(name, job) and not (ancestors(name, found) & tests):
            yield _v(
                f"$.jobs.{name}.needs",
                "cicd.deploy_needs_test",
                f"deploy job {name!r} does not depend on the tests ({', '.join(sorted(tests))})",
            )


def ancestors(name: str, found: dict[str, dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    todo = list(needs(found.get(name, {})))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += needs(found.get(current, {}))
    return seen


def _text(job: dict[str, Any]) -> str:
    parts = [str(job.get("name", "")), str(job.get("environment", ""))]
    for _, step in steps(job):
        parts += [str(step.get("name", "")), str(step.get("run", "")), str(step.get("uses", ""))]
    return "\n".join(parts).lower()


@rule("cicd.staging_smoke", A, "the staging deploy job runs a smoke test (a step naming `smoke`, or `curl --fail`)")
def staging_smoke(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        if _is_staging(name, job) and is_deploy(name, job):
            text = _text(job)
            if "smoke" not in text and not re.search(r"curl\s[^\n]*(-f\b|--fail)", text):
                yield _v(f"$.jobs.{name}.steps", "cicd.staging_smoke", "staging deploy has no smoke test step")


@rule("cicd.hygiene", A, "`concurrency`, deploy `environment` and `timeout-minutes` are set", "warning")
def hygiene(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    if "concurrency" not in doc and not any("concurrency" in j for j in found.values()):
        yield _v("$.concurrency", "cicd.hygiene", "no `concurrency`: two pushes can deploy at once", "warning")
    for name, job in found.items():
        if is_deploy(name, job) and "environment" not in job:
            yield _v(
                f"$.jobs.{name}.environment",
                "cicd.hygiene",
                "deploy job has no `environment` (no protection rules or secrets scoping)",
                "warning",
            )
        if "timeout-minutes" not in job and "uses" not in job:
            yield _v(f"$.jobs.{name}.timeout-minutes", "cicd.hygiene", "no `timeout-minutes` (the default is 6 hours)", "warning")


CHECKS = (
    structure,
    unknown_keys,
    test_job,
    staging_job,
    needs_exist,
    no_cycles,
    deploy_needs_test,
    staging_smoke,
    hygiene,
    *cicd_security.CHECKS,
    *cicd_plan.CHECKS,
)


def check(text: str, deployment: Any = None, *, artifacts_dir: str | None = None, external_tools: bool = True) -> list[Violation]:
    """Every violation of the workflow; with a deployment plan, also whether the workflow realises it."""
    doc, problems = parse(text)
    if problems:
        return problems
    if not isinstance(doc, dict):
        return [_v("$", SYNTAX, "the workflow must be a YAML mapping")]
    found = [v for c in CHECKS for v in c(doc)]
    if isinstance(deployment, dict):
        found += cicd_plan.check(doc, deployment, artifacts_dir)
    if external_tools:
        found += external.check(text, doc)
    return found

