"""Rules that compare the workflow with the environments and the deployment plan: what it applies, where, how it waits and rolls back."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from agent.names import planned_namespace
from agent.validation.actions import (
    ENVIRONMENTS,
    A,
    applies,
    environment,
    jobs,
    manifest_paths,
    needs,
    script_text,
    stage_of,
    steps,
    timeout,
)
from agent.validation.actions import violation as _v
from agent.validation.violations import Violation, as_list, dig, rule

ROLLOUT_STRATEGIES = {"canary", "blue_green"}
MARGIN_MINUTES = 10
DEFAULT_TIMEOUT_MINUTES = 360
_WAITS = {
    True: re.compile(
        r"argo\s+rollouts\s+status|get\s+rollouts?(?:\.argoproj\.io)?\b[^\n]*\.status\.phase|kubectl\s+wait\b[^\n]*\brollouts?\b"
    ),
    False: re.compile(r"\brollout\s+status\b|kubectl\s+wait\b[^\n]*\bdeployments?\b"),
}
_ROLLBACK = re.compile(r"\brollout\s+undo\b|argo\s+rollouts\s+(?:undo|abort)\b|[\"']abort[\"']\s*:\s*true")
_DEPLOYMENT_UNDO = re.compile(r"\brollout\s+undo\b")
_ARGO = re.compile(r"argo\s+rollouts\s+(?:undo|abort)\b|[\"']abort[\"']\s*:\s*true")
_STEP_OUTCOME = re.compile(r"steps\.[\w-]+\.(?:outcome|conclusion)")
_STEP_IDS = re.compile(r"steps\.([\w-]+)\.(?:outcome|conclusion)")
_UNDO = re.compile(r"argo\s+rollouts\s+undo\b|/spec/template\b")
DEFAULT_PORT = 8080
"""infrastructure.container_port when the plan leaves it out (agent/rendering/spec.py uses the same)."""
_SET_IMAGE = re.compile(r"\bkustomize\s+edit\s+set\s+image\s+[\"']?([^\s\"'=]+)=([^\n]*)|\bkubectl\b[^\n]*\bset\s+image\b([^\n]*)")
_APPLY_MANIFESTS = re.compile(r"\bkubectl\b[^\n]*\bapply\b[^\n]*(?:\s-k\b|--kustomize\b|\s-f\s+\S*k8s/)|\bkustomize\s+build\b")
_NEEDS_OUTPUT = re.compile(r"needs\.([\w-]+)\.outputs\.")
_NAMESPACE_FLAG = re.compile(r"\bkubectl\b[^\n|;]*?\s(?:-n|--namespace)[\s=]+[\"']?([a-z0-9][a-z0-9-]*)[\"']?(?=[\s;)]|$)", re.M)


@rule("cicd.production_gated", A, "production is deployed by a job behind `environment: production` (its reviewers are the approval)")
def production_gated(doc: dict[str, Any]) -> Iterator[Violation]:
    found = jobs(doc)
    if found and not any(environment(j) == "production" for j in found.values()):
        yield _v("$.jobs", "cicd.production_gated", "no job runs behind `environment: production`: nothing waits for the approval")
    for name, job in found.items():
        if environment(job) != "production" and any(folder == "production" for _, folder in manifest_paths(doc, job)):
            yield _v(f"$.jobs.{name}.environment", "cicd.production_gated",
                     "applies production manifests outside `environment: production`")


@rule("cicd.environment_manifests", A, "a job for one environment applies only that environment's manifests")
def environment_manifests(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        stage = stage_of(name, job)
        for path, folder in manifest_paths(doc, job):
            if stage and folder in ENVIRONMENTS and folder != stage:
                yield _v(f"$.jobs.{name}.steps", "cicd.environment_manifests", f"a {stage} job applies {folder}'s manifests ({path})")


@rule(
    "cicd.rollback",
    A,
    "a rollback step runs only when a step of its own job failed (`steps.<id>.outcome`: the deploy, or a test of what it deployed), "
    "with the plan's engine (Argo abort/undo for a Rollout, `rollout undo` for a Deployment; a finished Rollout needs an undo)",
)
def rollback(doc: dict[str, Any], deployment: Any = None) -> Iterator[Violation]:
    strategy = dig(deployment, "deployment_strategy", "type")
    for name, job in jobs(doc).items():
        earlier: list[str] = []
        for i, step in steps(job):
            run, path, condition = str(step.get("run", "")), f"$.jobs.{name}.steps[{i}]", str(step.get("if", ""))
            if _ROLLBACK.search(run):
                yield from _rollback_step(path, run, condition, earlier, strategy)
            earlier.append(str(step.get("id", "")))


def _rollback_step(path: str, run: str, condition: str, earlier: list[str], strategy: Any) -> Iterator[Violation]:
    if not _STEP_OUTCOME.search(condition):
        yield _v(f"{path}.if", "cicd.rollback", "rolls back after any failure (or always): it could undo the good, live version; "
                 "condition it on the deploy step, e.g. `failure() && steps.deploy.outcome == 'failure'`")  # fmt: skip
    elif unknown := sorted(set(_STEP_IDS.findall(condition)) - set(earlier)):
        yield _v(f"{path}.if", "cicd.rollback", f"the condition names step {unknown[0]!r}, which is not an earlier step of this job: "
                 "the rollback never runs")  # fmt: skip
    if strategy in ROLLOUT_STRATEGIES and _DEPLOYMENT_UNDO.search(run):
        yield _v(f"{path}.run", "cicd.rollback", f"a {strategy} plan runs an Argo Rollout: `rollout undo` of a Deployment undoes nothing")
    if strategy == "rolling" and _ARGO.search(run):
        yield _v(f"{path}.run", "cicd.rollback", "a rolling plan runs a Deployment: Argo Rollouts commands do not apply")
    deploys = earlier.index("deploy") if "deploy" in earlier else None
    after = deploys is not None and any(earlier.index(s) > deploys for s in _STEP_IDS.findall(condition) if s in earlier)
    if strategy in ROLLOUT_STRATEGIES and after and not _UNDO.search(run):
        yield _v(f"{path}.run", "cicd.rollback", "a test failed after the rollout finished, and an abort changes nothing then: "
                 "undo to the recorded version (`kubectl argo rollouts undo`, or put its pod template back)")  # fmt: skip




@rule("cicd.manifest_paths", A, "the workflow applies the rendered manifests (`<consensus>/artifacts/k8s/<env>`) of each stage of the plan")
def paths(doc: dict[str, Any], deployment: dict[str, Any], artifacts_dir: str | None) -> Iterator[Violation]:
    applied: set[str] = set()
    for name, job in jobs(doc).items():
        for path, folder in dict.fromkeys(manifest_paths(doc, job)):
            expected = f"{artifacts_dir}/k8s/{folder}" if artifacts_dir else None
            if folder in ENVIRONMENTS and (path == expected or (not expected and path.endswith(f"artifacts/k8s/{folder}"))):
                applied.add(folder)
                continue
            where = expected or f"consensus/artifacts/k8s/{folder} (relative to the repository root)"
            yield _v(f"$.jobs.{name}.steps", "cicd.manifest_paths", f"applies {path}, which nothing renders; the manifests are in {where}")
    for stage in _stages(deployment):
        if stage not in applied:
            message = f"the plan's {stage} stage is never deployed from its rendered manifests (k8s/{stage})"
            yield _v("$.jobs", "cicd.manifest_paths", message)


@rule("cicd.rollout_wait", A, "every job that applies manifests waits for the plan's engine (the Rollout's phase, `rollout status`)")
def rollout_wait(doc: dict[str, Any], deployment: dict[str, Any]) -> Iterator[Violation]:
    strategy = dig(deployment, "deployment_strategy", "type")
    rollout = strategy in ROLLOUT_STRATEGIES
    for name, job in jobs(doc).items():
        if applies(doc, job) and not _WAITS[rollout].search(_scripts(job)):
            how = "`kubectl argo rollouts status` or a loop on the Rollout's `.status.phase`" if rollout else "`kubectl rollout status`"
            yield _v(f"$.jobs.{name}.steps", "cicd.rollout_wait", f"applies a {strategy} release but never waits for it ({how})")


@rule("cicd.timeouts", A, "the production job's timeout covers the canary; the staging jobs soak and their timeouts cover the soak")
def timeouts(doc: dict[str, Any], deployment: dict[str, Any]) -> Iterator[Violation]:
    stages = {str(s.get("stage")): s for s in as_list(dig(deployment, "deployment_strategy", "stages")) if isinstance(s, dict)}
    canary = _minutes(dig(stages, "production", "canary_duration_hours"))
    by_stage: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, job in jobs(doc).items():
        by_stage.setdefault(stage_of(name, job) or "", []).append((name, job))
    if canary:
        for name, job in by_stage.get("production", []):
            limit = timeout(job) or DEFAULT_TIMEOUT_MINUTES
            if applies(doc, job) and limit < canary + MARGIN_MINUTES:
                yield _v(f"$.jobs.{name}.timeout-minutes", "cicd.timeouts",
                         f"{limit:g} minutes cannot cover the {canary}-minute canary (at least {canary + MARGIN_MINUTES})")  # fmt: skip
    soak = _minutes(dig(stages, "staging", "soak_time_hours"))
    staging = by_stage.get("staging", [])
    if soak and not any("sleep" in _scripts(job) for _, job in staging):
        yield _v("$.jobs", "cicd.timeouts", f"the plan soaks staging for {soak} minutes; no staging job waits")
    elif soak and sum(timeout(job) or DEFAULT_TIMEOUT_MINUTES for _, job in staging) < soak + MARGIN_MINUTES:
        yield _v("$.jobs", "cicd.timeouts", f"the staging jobs' timeouts cannot cover the {soak}-minute soak")


@rule(
    "cicd.image_from_build",
    A,
    "every job that applies manifests first sets the image to the build job's output (`kustomize edit set image <app>=` a "
    "`needs.<build>.outputs` value), or it deploys the kustomization's default `<app>:latest`",
)
def image_from_build(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        if not manifest_paths(doc, job):
            continue
        text = script_text(doc, job, resolve=True)
        applied = _APPLY_MANIFESTS.search(text)
        before = text[: applied.start()] if applied else text
        if not any(_from_needs(m.group(0), needs(job)) for m in _SET_IMAGE.finditer(before)):
            yield _v(f"$.jobs.{name}.steps", "cicd.image_from_build", "applies manifests without first setting the image to the build "
                     "job's output (e.g. `kustomize edit set image \"$APP=$IMAGE\"` with IMAGE: ${{ needs.build.outputs.image }}): "
                     "it would deploy the kustomization's default `<app>:latest`")  # fmt: skip


def _from_needs(line: str, needed: list[str]) -> bool:
    return any(m.group(1) in needed for m in _NEEDS_OUTPUT.finditer(line))


@rule(
    "cicd.plan_names",
    A,
    "the deploy jobs act on what the plan renders: NAMESPACE and every `-n` are infrastructure.namespace (else the app), "
    "IMAGE_NAME and the `kustomize edit set image` name are the app (APP), PORT is infrastructure.container_port (8080)",
)
def plan_names(doc: dict[str, Any], deployment: dict[str, Any]) -> Iterator[Violation]:
    infra = dig(deployment, "infrastructure")
    infra = infra if isinstance(infra, dict) else {}
    deploys = {n: j for n, j in jobs(doc).items() if manifest_paths(doc, j)}
    top = _literal_env(doc)
    if deploys:
        yield from _env_names("$.env", top, top.get("APP"), infra)
    for name, job in deploys.items():
        own = _literal_env(job)
        app = own.get("APP", top.get("APP"))
        yield from _env_names(f"$.jobs.{name}.env", own, app, infra)
        for i, step in steps(job):
            given = _literal_env(step)
            yield from _env_names(f"$.jobs.{name}.steps[{i}].env", given, given.get("APP", app), infra)
        yield from _literal_names(f"$.jobs.{name}.steps", script_text(doc, job), app, planned_namespace(infra, app))


def _env_names(where: str, env: dict[str, str], app: str | None, infra: dict[str, Any]) -> Iterator[Violation]:
    expected = {"NAMESPACE": planned_namespace(infra, app), "IMAGE_NAME": app, "PORT": str(infra.get("container_port", DEFAULT_PORT))}
    for key, want in expected.items():
        got = env.get(key)
        if want and got is not None and got != str(want):
            yield _v(f"{where}.{key}", "cicd.plan_names", f"{key} is {got!r}; the plan renders {want!r}")


def _literal_names(where: str, text: str, app: str | None, namespace: str | None) -> Iterator[Violation]:
    """Names written into the scripts themselves (`-n payments`, `set image api=…`); variables are checked where they are set."""
    for found in sorted({m.group(1) for m in _NAMESPACE_FLAG.finditer(text)} - {namespace}) if namespace else []:
        yield _v(where, "cicd.plan_names", f"acts on namespace {found!r}; the plan renders into {namespace!r}")
    for m in _SET_IMAGE.finditer(text):
        if app and m.group(1) and not m.group(1).startswith("$") and m.group(1) != app:
            yield _v(where, "cicd.plan_names", f"sets the image {m.group(1)!r}; the manifests name their image {app!r}")


def _literal_env(block: dict[str, Any]) -> dict[str, str]:
    env = block.get("env")
    return {str(k): str(v) for k, v in env.items() if "${{" not in str(v)} if isinstance(env, dict) else {}


CHECKS = (production_gated, environment_manifests, rollback)


def check(doc: dict[str, Any], deployment: dict[str, Any], artifacts_dir: str | None) -> list[Violation]:
    found = [*paths(doc, deployment, artifacts_dir), *rollout_wait(doc, deployment), *timeouts(doc, deployment), *_engine(doc, deployment)]
    return [*found, *image_from_build(doc), *plan_names(doc, deployment)]


def _engine(doc: dict[str, Any], deployment: dict[str, Any]) -> Iterator[Violation]:
    # The condition half of cicd.rollback runs with the plan-free checks; only the engine half needs the plan.
    yield from (v for v in rollback(doc, deployment) if not v.path.endswith(".if"))


def _stages(deployment: dict[str, Any]) -> list[str]:
    stages = as_list(dig(deployment, "deployment_strategy", "stages"))
    return [str(s["stage"]) for s in stages if isinstance(s, dict) and s.get("stage") in ENVIRONMENTS]


def _scripts(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for _, s in steps(job))


def _minutes(hours: Any) -> int:
    ok = isinstance(hours, int | float) and not isinstance(hours, bool) and math.isfinite(hours) and hours > 0
    return math.ceil(hours * 60) if ok else 0
