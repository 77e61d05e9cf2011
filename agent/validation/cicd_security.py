"""Security rules for the workflow that hold without any external linter: token scope, injection, secrets, pinning, checkout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from agent.rendering.pins import SHA, known
from agent.validation.actions import A, environment, expressions, jobs, scripts, steps
from agent.validation.actions import violation as _v
from agent.validation.violations import Violation, rule

UNTRUSTED_TRIGGERS = ("pull_request_target", "workflow_run")
_UNTRUSTED_REF = re.compile(
    r"github\.(?:event\.pull_request\.head|head_ref|event\.workflow_run\.head|event\.pull_request\.merge)|refs/pull/|"
    r"github\.event\.(?:pull_request|workflow_run)\.[\w.]*(?:sha|ref|repository|full_name)",
)
_SAFE_EVENT_FIELDS = {"number", "id", "sha", "size", "created_at", "updated_at", "merged", "draft", "action", "run_id", "run_number"}
_CONTEXT = re.compile(r"(?<![\w.-])([A-Za-z_][\w-]*)\s*(?=[.\[])")
_PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:/\S*/)?(?:ba|z|da|k|fi)?sh\b"
    r"|\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:python3?|perl|ruby|node)\b"
    r"|(?:\b(?:ba|z|da)?sh|\bsource|^\s*\.|;\s*\.)\s+(?:-\S+\s+)*<\(\s*(?:curl|wget)\b"
    r"|\b(?:(?:ba|z|da)?sh\s+-c|eval)\s+[\"']?\$\(\s*(?:curl|wget)\b",
    re.M,
)
# Contexts GitHub evaluates before a job runs: what each `env` level may read.
JOB_ENV_CONTEXTS = {"github", "needs", "strategy", "matrix", "vars", "secrets", "inputs"}
WORKFLOW_ENV_CONTEXTS = {"github", "secrets", "inputs", "vars"}
_KNOWN_CONTEXTS = {"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs", "inputs"}


@rule("cicd.permissions", A, "a top-level `permissions` block, and no `write-all` anywhere")
def permissions(doc: dict[str, Any]) -> Iterator[Violation]:
    if "permissions" not in doc:
        yield _v("$.permissions", "cicd.permissions", "no top-level `permissions`: the token gets the repository default (often write)")
    blocks = [("$.permissions", doc.get("permissions"))] + [(f"$.jobs.{n}.permissions", j.get("permissions")) for n, j in jobs(doc).items()]
    for path, value in blocks:
        if isinstance(value, str) and value.strip().lower() == "write-all":
            yield _v(path, "cicd.permissions", "`write-all` gives the token every write scope; grant the scopes a job needs")


@rule(
    "cicd.untrusted_checkout",
    A,
    "a `pull_request_target`/`workflow_run` workflow never checks out the pull request's code (it would run with secrets)",
)
def untrusted_checkout(doc: dict[str, Any]) -> Iterator[Violation]:
    on = doc.get("on")
    triggers = [on] if isinstance(on, str) else list(on) if isinstance(on, dict | list) else []
    risky = [t for t in triggers if t in UNTRUSTED_TRIGGERS]
    if not risky:
        return
    for name, job in jobs(doc).items():
        for i, step in steps(job):
            uses = str(step.get("uses", "")).lower()
            given = _with(step)
            ref = " ".join(str(given.get(k, "")) for k in ("ref", "repository"))
            if uses.startswith("actions/checkout@") and _UNTRUSTED_REF.search(ref):
                yield _v(
                    f"$.jobs.{name}.steps[{i}].with",
                    "cicd.untrusted_checkout",
                    f"checks out untrusted code ({ref.strip()}) in a `{risky[0]}` workflow, which has the base repository's secrets",
                )


@rule("cicd.untrusted_context", A, "no attacker-controlled context (`github.event.*` text, `github.head_ref`) is expanded inside `run:`")
def untrusted_context(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for where, script in scripts(job):
            for expr in expressions(script):
                if (found := _untrusted(expr)) is not None:
                    yield _v(
                        f"$.jobs.{name}.steps{where}",
                        "cicd.untrusted_context",
                        f"`{found}` is expanded into the script before it runs (script injection); pass it through `env:` and quote it",
                    )


def _untrusted(expr: str) -> str | None:
    normal = re.sub(r"\[\s*['\"]([\w-]+)['\"]\s*\]", r".\1", expr)
    for match in re.finditer(r"github\.(?:head_ref|event(?:\.[\w*-]+)+)", normal):
        field = match.group(0)
        if field == "github.head_ref" or field.rsplit(".", 1)[-1] not in _SAFE_EVENT_FIELDS:
            return field
    return None


@rule("cicd.pipe_to_shell", A, "no script pipes a download into a shell or interpreter (curl piped into bash)")
def pipe_to_shell(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for where, script in scripts(job):
            # Every form names curl or wget: a script without either cannot match (and the search is the costly part).
            match = _PIPE_TO_SHELL.search(script.replace("\\\n", " ")) if "curl" in script or "wget" in script else None
            if match:
                yield _v(
                    f"$.jobs.{name}.steps{where}",
                    "cicd.pipe_to_shell",
                    f"runs downloaded code unseen ({match.group(0).strip()[:60]}…); download, verify a checksum, then run",
                )


@rule(
    "cicd.secrets_scoped",
    A,
    "only jobs with an `environment` read secrets (other than `GITHUB_TOKEN`); never the workflow's `env`, which every job gets",
)
def secrets_scoped(doc: dict[str, Any]) -> Iterator[Violation]:
    if used := _secrets(doc.get("env")):
        yield _v("$.env", "cicd.secrets_scoped", f"the workflow's `env` reads secrets ({', '.join(used)}): every job gets them, "
                 "the test job and any job without an `environment` included; set them in the step that needs them")  # fmt: skip
    for name, job in jobs(doc).items():
        if environment(job) is not None:
            continue
        used = _secrets(job)
        if job.get("secrets") == "inherit":
            used.append("inherit")
        if used:
            yield _v(
                f"$.jobs.{name}",
                "cicd.secrets_scoped",
                f"reads secrets ({', '.join(used)}) without an `environment`: any branch's workflow run could read them",
            )


def _secrets(value: Any) -> list[str]:
    return sorted({m for e in expressions(value) for m in re.findall(r"secrets\s*(?:\.\s*|\[\s*['\"])([\w-]+)", e)} - {"GITHUB_TOKEN"})


@rule("cicd.context_availability", A, "`env` blocks use only contexts GitHub has there (no `runner` in a job's or the workflow's `env`)")
def context_availability(doc: dict[str, Any]) -> Iterator[Violation]:
    blocks = [("$.env", doc.get("env"), WORKFLOW_ENV_CONTEXTS)]
    blocks += [(f"$.jobs.{n}.env", j.get("env"), JOB_ENV_CONTEXTS) for n, j in jobs(doc).items()]
    for path, env, allowed in blocks:
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            for expr in expressions(value):
                bad = sorted({c for c in _CONTEXT.findall(re.sub(r"'[^']*'", "''", expr)) if c in _KNOWN_CONTEXTS - allowed})
                if bad:
                    yield _v(
                        f"{path}.{key}",
                        "cicd.context_availability",
                        f"context `{bad[0]}` does not exist here (allowed: {', '.join(sorted(allowed))}); "
                        "set it in a step's `env` or inside the script (e.g. `$RUNNER_TEMP`)",
                    )


@rule(
    "cicd.action_pinning",
    A,
    "every action is pinned to a full commit SHA that the project's vetted table (agent/rendering/action_pins.json) lists",
)
def action_pinning(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        refs = [(f"$.jobs.{name}.uses", job.get("uses"))]
        refs += [(f"$.jobs.{name}.steps[{i}].uses", s.get("uses")) for i, s in steps(job)]
        for path, uses in refs:
            if isinstance(uses, str) and (problem := _pin_problem(uses.strip())):
                yield _v(path, "cicd.action_pinning", problem)


def _pin_problem(uses: str) -> str | None:
    if uses.startswith("./"):
        return None
    if uses.startswith("docker://"):
        return None if "@sha256:" in uses else f"{uses!r} is a container image by tag; pin it by digest (@sha256:…)"
    action, _, ref = uses.partition("@")
    if not SHA.fullmatch(ref):
        return f"{uses!r} is not pinned to a commit SHA: a tag or branch can be moved to other code"
    owner_repo = "/".join(action.split("/")[:2])
    if known(owner_repo, ref) is None:
        return f"{uses!r}: this SHA is not in the vetted table (agent/rendering/action_pins.json); use a listed release"
    return None


@rule("cicd.checkout_credentials", A, "every `actions/checkout` sets `persist-credentials: false` (the token is not left on disk)")
def checkout_credentials(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for i, step in steps(job):
            if str(step.get("uses", "")).lower().startswith("actions/checkout@"):
                given = _with(step)
                if given.get("persist-credentials") not in (False, "false"):
                    yield _v(
                        f"$.jobs.{name}.steps[{i}].with.persist-credentials",
                        "cicd.checkout_credentials",
                        "checkout leaves the token in .git/config for every later step; set `persist-credentials: false`",
                    )


def _with(step: dict[str, Any]) -> dict[str, Any]:
    given = step.get("with")
    return given if isinstance(given, dict) else {}


CHECKS = (
    permissions,
    untrusted_checkout,
    untrusted_context,
    pipe_to_shell,
    secrets_scoped,
    context_availability,
    action_pinning,
    checkout_credentials,
)
