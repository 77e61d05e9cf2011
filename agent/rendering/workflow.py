"""Render the GitHub Actions workflow from the plan: test, build and push the image, deploy that digest to each environment.

No upstream text is pasted into the workflow: names are DNS labels, paths and versions are checked against plain
patterns, gates and tests are mapped to commands we wrote, and every value a script needs reaches it through `env:`
(the YAML dumper writes it). Actions are pinned to the commit SHAs of the vetted table shipped with the project.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from agent.names import is_dns_label, is_plain_path
from agent.rendering import manifests, scripts, toolchain
from agent.rendering.memo import WORKFLOWS
from agent.rendering.pins import known, latest

if TYPE_CHECKING:
    from agent.facts import Facts

RUNNER = "ubuntu-latest"
KUBECONFIG = "${{ runner.temp }}/kubeconfig"
"""Only in a step's `env`: the `runner` context does not exist in a job's or the workflow's `env`."""
ENVIRONMENTS = ("dev", "staging", "production")
DEFAULT_PORT = 8080
"""infrastructure.container_port when the plan leaves it out (the manifests use the same default)."""
MARGIN_MINUTES = 15
ROLLING_WAIT_MINUTES = 10
ENGINE_MARGIN_MINUTES = 20
"""Beyond the engine's own pauses and analysis: scheduling, image pulls, readiness."""
MAX_WAIT_MINUTES = 330
SOAK_CHUNK_MINUTES = 300
"""A GitHub-hosted job stops after 6 hours, so a longer soak runs as a chain of jobs."""
MAX_SOAK_JOBS = 64
"""The schema holds soak_time_hours to a week (34 jobs); a plan that skipped it is refused here, never allocated."""


class Target(NamedTuple):
    """What the deploy jobs act on, every field checked safe for a workflow."""

    app: str
    namespace: str
    image_name: str
    rollout: bool
    strategy: str
    port: int
    readiness: str
    liveness: str
    manifests: str

    @classmethod
    def of(cls, facts: Facts, deployment: dict[str, Any]) -> Target:
        # Names come from the manifests' own renderer, so the workflow acts on exactly what k8s/<env>/ holds.
        workload = manifests.workload(deployment, facts)
        port = deployment.get("infrastructure", {}).get("container_port", DEFAULT_PORT)
        return cls(
            app=_label(workload.name),
            namespace=_label(workload.namespace),
            image_name=_label(workload.image_name),
            rollout=workload.kind == "Rollout",
            strategy=workload.strategy,
            port=port if isinstance(port, int) and 1 <= port <= 65535 else DEFAULT_PORT,
            readiness=_path(deployment["health_checks"]["readiness"]["endpoint"]),
            liveness=_path(deployment["health_checks"]["liveness"]["endpoint"]),
            manifests=f"{toolchain.relative_path(facts.artifacts_dir)}/k8s",
        )


def render(facts: Facts, deployment: dict[str, Any]) -> str:
    target = Target.of(facts, deployment)
    stages = [s for s in deployment["deployment_strategy"]["stages"] if isinstance(s, dict) and s.get("stage") in ENVIRONMENTS]
    doc = {
        "name": f"Deploy {target.app}",
        "on": {"push": {"branches": ["main"]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": f"deploy-{target.app}", "cancel-in-progress": False},
        "jobs": {"test": _test_job(facts), "build": _build_job(), **_deploy_jobs(facts, deployment, target, stages)},
    }
    return WORKFLOWS.remember(_header(facts) + _why_write(_pin_comments(_dump(doc))), doc)


def _test_job(facts: Facts) -> dict[str, Any]:
    return {
        "name": "Test",
        "runs-on": RUNNER,
        "timeout-minutes": 30,
        "steps": [_checkout(), *toolchain.setup(facts), {"name": "Run the CI gates", **toolchain.gates(facts)}],
    }


def _build_job() -> dict[str, Any]:
    return {
        "name": "Build and push the image",
        "needs": "test",
        "runs-on": RUNNER,
        "timeout-minutes": 30,
        "permissions": {"contents": "read", "packages": "write"},
        "outputs": {"image": "${{ steps.image.outputs.name }}@${{ steps.build.outputs.digest }}"},
        "steps": [
            _checkout(),
            {"name": "Name the image", "id": "image", "run": scripts.IMAGE_NAME},
            {"uses": latest("docker/setup-buildx-action").uses},
            {
                "uses": latest("docker/login-action").uses,
                "with": {"registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}"},
            },
            {
                "name": "Build and push",
                "id": "build",
                "uses": latest("docker/build-push-action").uses,
                "with": {"context": ".", "push": True, "tags": "${{ steps.image.outputs.name }}:${{ github.sha }}"},
            },
        ],
    }


def _deploy_jobs(facts: Facts, deployment: dict[str, Any], target: Target, stages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for stage in stages:
        env = str(stage["stage"])
        job_id = f"deploy-{env}"
        wait = _wait_minutes(facts, deployment, target, env)
        jobs[job_id] = _deploy_job(facts, target, stage, wait, ["build", previous] if previous else ["build"])
        previous = job_id
        soak = _soak_minutes(stage)
        for n, minutes in enumerate(_chunks(soak), start=1):
            soak_id = f"soak-{env}" if n == 1 else f"soak-{env}-{n}"
            jobs[soak_id] = _soak_job(env, target, minutes, previous)
            previous = soak_id
    return jobs


def _deploy_job(facts: Facts, target: Target, stage: dict[str, Any], wait: int, needs: list[str]) -> dict[str, Any]:
    env = str(stage["stage"])
    promote = target.strategy == "blue_green" and env == "production"
    tests = _stage_tests(facts, stage)
    steps = [
        _checkout(),
        _kube("Configure cluster access", scripts.CONFIGURE, {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"}),
        _kube("Record the running version", scripts.record(target.rollout), id="before"),
        _kube(f"Deploy to {env}", scripts.deploy(target.rollout, until="Paused" if promote else "Healthy"), id="deploy"),
        *(_promotion_steps() if promote else []),
        *tests,
        _rollback_step(target, promote, tests),
        _kube("Remove the cluster credentials", scripts.FORGET, condition="always()"),
    ]
    return {
        "name": f"Deploy to {env}",
        "needs": needs,
        "runs-on": RUNNER,
        "environment": env,
        "timeout-minutes": wait * (2 if promote else 1) + MARGIN_MINUTES + (scripts.ROLLBACK_WAIT_SECONDS // 60 if target.rollout else 0),
        "env": {
            "APP": target.app,
            "NAMESPACE": target.namespace,
            "IMAGE_NAME": target.image_name,
            "MANIFESTS": f"{target.manifests}/{env}",
            "IMAGE": "${{ needs.build.outputs.image }}",
            "WAIT_SECONDS": str(wait * 60),
            "PORT": str(target.port),
            "READY_PATH": target.readiness,
            "LIVE_PATH": target.liveness,
            "BASE_URL": f"${{{{ vars.{env.upper()}_URL }}}}",
            "URL_VARIABLE": f"{env.upper()}_URL",
        },
        "steps": steps,
    }


def _promotion_steps() -> list[dict[str, Any]]:
    return [
        _kube("Smoke test the preview", scripts.PREVIEW_SMOKE, id="preview"),
        _kube("Promote (the production environment's reviewers approved this job)", scripts.PROMOTE, id="promote"),
    ]


def _stage_tests(facts: Facts, stage: dict[str, Any]) -> list[dict[str, Any]]:
    tests = [str(t).lower() for t in stage.get("tests", []) if isinstance(t, str)]
    steps: list[dict[str, Any]] = [{"name": "Smoke test", "id": "smoke", "run": scripts.SMOKE}]
    if "integration" in tests:
        steps += [*toolchain.setup(facts), {"name": "Integration tests", "id": "integration", **toolchain.integration(facts)}]
    if any(t in tests for t in ("performance", "load", "synthetic")):
        steps.append({"name": "Latency check (p95 under 0.5 s)", "id": "latency", "run": scripts.LATENCY, "env": {"LATENCY_BUDGET": "0.5"}})
    unknown = sorted(set(tests) - {"smoke", "integration", "performance", "load", "synthetic"})
    if unknown:
        steps.append({"name": "Tests this workflow cannot run", "run": scripts.unmapped(unknown)})
    return steps


def _rollback_step(target: Target, promote: bool, tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Back to the recorded version when this job's deploy, or a test of what it deployed, failed; never on a first deploy."""
    failed = (["deploy", "preview", "promote"] if promote else ["deploy"]) + [str(t["id"]) for t in tests if t.get("id")]
    outcome = " || ".join(f"steps.{s}.outcome == 'failure'" for s in failed)
    if target.rollout:
        return _kube(
            "Roll back (abort a rollout in progress, undo a finished one to the recorded version)",
            scripts.ROLL_BACK,
            {"STABLE": "${{ steps.before.outputs.stable }}", "WAIT_SECONDS": str(scripts.ROLLBACK_WAIT_SECONDS)},
            condition=f"failure() && ({outcome}) && steps.before.outputs.stable != ''",
        )
    return _kube(
        "Roll back to the recorded revision",
        scripts.UNDO,
        {"REVISION": "${{ steps.before.outputs.revision }}"},
        condition=f"failure() && ({outcome}) && steps.before.outputs.revision != ''",
    )


def _soak_job(env: str, target: Target, minutes: int, needs: str) -> dict[str, Any]:
    return {
        "name": f"Soak {env} ({minutes} min)",
        "needs": needs,
        "runs-on": RUNNER,
        "environment": env,
        "timeout-minutes": minutes + MARGIN_MINUTES,
        "env": {
            "SOAK_SECONDS": str(minutes * 60),
            "READY_PATH": target.readiness,
            "BASE_URL": f"${{{{ vars.{env.upper()}_URL }}}}",
            "URL_VARIABLE": f"{env.upper()}_URL",
        },
        "steps": [{"name": f"Watch {env} for {minutes} minutes", "run": scripts.SOAK}],
    }


def _wait_minutes(facts: Facts, deployment: dict[str, Any], target: Target, env: str) -> int:
    """How long a deploy waits for the engine: its least time in ``env`` (canary pauses, analysis) plus room to start pods."""
    if not target.rollout:
        return ROLLING_WAIT_MINUTES
    least = math.ceil(manifests.rollout_seconds(deployment, facts, env) / 60)
    return min(least + ENGINE_MARGIN_MINUTES, MAX_WAIT_MINUTES)


def _soak_minutes(stage: dict[str, Any]) -> int:
    return math.ceil(_number(stage.get("soak_time_hours")) * 60)


def _chunks(minutes: int) -> list[int]:
    count = -(-minutes // SOAK_CHUNK_MINUTES)
    if count > MAX_SOAK_JOBS:
        raise ValueError(
            f"a soak of {minutes} minutes would be {count} jobs of {SOAK_CHUNK_MINUTES} minutes, more than {MAX_SOAK_JOBS}; "
            "soak_time_hours is over the schema's maximum (validate the plan first)"
        )
    return [min(SOAK_CHUNK_MINUTES, minutes - start) for start in range(0, minutes, SOAK_CHUNK_MINUTES)]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0 else 0.0


def _checkout() -> dict[str, Any]:
    return {"uses": latest("actions/checkout").uses, "with": {"persist-credentials": False}}


def _kube(name: str, run: str, env: dict[str, str] | None = None, *, id: str | None = None, condition: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name}
    if id:
        step["id"] = id
    if condition:
        step["if"] = condition
    step["env"] = {"KUBECONFIG": KUBECONFIG, **(env or {})}
    step["run"] = run
    return step


def _label(text: str) -> str:
    if not is_dns_label(text):
        raise ValueError(f"{text!r} is not a DNS-1123 label; refusing to put it in a workflow")
    return text


def _path(text: Any) -> str:
    if not is_plain_path(text):
        raise ValueError(f"probe path {text!r} is not a plain URL path; refusing to put it in a workflow")
    return text


def _header(facts: Facts) -> str:
    epic = facts.epic if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", facts.epic) else "(unnamed)"
    return (
        f"# Generated by devops-agent from deployment.json for {epic} iteration {int(facts.iteration)}.\n"
        "# Lives with the artifacts: copy it to .github/workflows/ to adopt it (see the README).\n"
    )


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes multi-line strings (shell scripts) as `|` blocks, as a person would."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def _dump(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=False)


_USES = re.compile(r"^(\s*(?:- )?uses: )([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})$", re.M)


_PACKAGES_WRITE = re.compile(r"^( +packages: write)$", re.M)


def _why_write(text: str) -> str:
    """Say why the build job may write packages (zizmor's pedantic persona asks every write permission for a reason)."""
    return _PACKAGES_WRITE.sub(r"\1 # push the image to ghcr.io", text)


def _pin_comments(text: str) -> str:
    """Add `# <version>` after each pinned `uses:` line. The data cannot change: a matched line ends in a plain
    40-hex SHA, and a space, `#` and a version of the table (`v` and dotted digits, checked as the table loads) is a
    YAML comment; the workflow tests read every rendering back with and without the comments and compare."""
    return _USES.sub(lambda m: m.group(0) + (f" # {pin.version}" if (pin := known(m.group(2), m.group(3))) else ""), text)
