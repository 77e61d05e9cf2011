"""Render the plan into what a cluster runs: per environment a kustomization of manifests, plus prometheus/rules.yml.

Deterministic: the same deployment.json and facts give the same bytes, so `validate` can tell when the files
no longer match the plan. Every file goes through the YAML dumper; names are DNS labels derived in ``spec``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import yaml

from agent.documents import read_text
from agent.errors import InputError
from agent.rendering import alerts, core, rollouts, spec
from agent.rendering.memo import MANIFESTS
from agent.rendering.spec import ENVIRONMENTS, Spec

if TYPE_CHECKING:
    from agent.facts import Named

RULES_FILE = "prometheus/rules.yml"
WORKLOAD_FILES = {"Deployment": "deployment.yaml", "Rollout": "rollout.yaml"}
KNOWN_FILES = frozenset(
    {*WORKLOAD_FILES.values(), "service.yaml", "hpa.yaml", "pdb.yaml", "analysistemplate.yaml", "podmonitor.yaml"}
    | {"prometheusrule.yaml", "kustomization.yaml"}
)
"""Every file name rendering can write under k8s/<env>/ (and so may replace or remove there)."""


class Workload(NamedTuple):
    """What deploys the service, named as every artifact refers to it."""

    kind: Literal["Deployment", "Rollout"]
    name: str
    namespace: str
    container: str
    image_name: str
    """The image name in the manifests, which `kustomize edit set image <image_name>=<image>@<digest>` replaces."""
    strategy: str
    service: str
    preview_service: str | None
    analysis: str | None
    rules: str


def workload(deployment: dict[str, Any], facts: Named) -> Workload:
    plan = spec.read(deployment, facts)
    rollout = plan.kind == "Rollout"
    return Workload(
        kind="Rollout" if rollout else "Deployment",
        name=plan.app,
        namespace=plan.namespace,
        container=plan.app,
        image_name=plan.app,
        strategy=plan.strategy,
        service=plan.service,
        preview_service=plan.preview_service if plan.strategy == "blue_green" else None,
        analysis=plan.analysis if rollout else None,
        rules=plan.rules,
    )


def render(deployment: dict[str, Any], facts: Named) -> dict[str, str]:
    """Every derived file by path relative to artifacts/; ``deployment`` must be schema-valid."""
    plan = spec.read(deployment, facts)
    files: dict[str, str] = {}
    for env in ENVIRONMENTS:
        for name, docs in documents(plan, env).items():
            files[f"k8s/{env}/{name}"] = dump(*docs)
    files[RULES_FILE] = dump(alerts.rule_file(plan))
    return files


def documents(plan: Spec, env: str) -> dict[str, list[dict[str, Any]]]:
    """One environment's objects, by file name; kustomization.yaml lists the others in this order."""
    services = [core.service(plan, plan.service)]
    if plan.strategy == "blue_green":
        services.append(core.service(plan, plan.preview_service, role="preview"))
    api = "apps/v1" if plan.kind == "Deployment" else rollouts.ROLLOUTS_API
    found: dict[str, list[dict[str, Any]]] = {
        WORKLOAD_FILES[plan.kind]: [rollouts.workload(plan, env)],
        "service.yaml": services,
        "hpa.yaml": [core.autoscaler(plan, api)],
        "pdb.yaml": [core.disruption_budget(plan)],
    }
    if plan.kind == "Rollout":
        found["analysistemplate.yaml"] = [rollouts.analysis_template(plan)]
    found["podmonitor.yaml"] = [core.pod_monitor(plan)]
    found["prometheusrule.yaml"] = [alerts.prometheus_rule(plan, env)]
    found["kustomization.yaml"] = [kustomization(plan, list(found))]
    return found


def kustomization(plan: Spec, resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": plan.namespace,
        "resources": resources,
        # The workflow pins the version it built: `kustomize edit set image <app>=<image>@<digest>`.
        "images": [{"name": plan.app, "newName": plan.image, "newTag": "latest"}],
    }


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's safe dumper where it is built (about 5x faster), never writing anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(*docs: dict[str, Any]) -> str:
    # No line folding: a PromQL expression stays on one line, as people read and grep it.
    text: str = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000, explicit_start=len(docs) > 1)
    return MANIFESTS.remember(text, *docs)


def rollout_seconds(deployment: dict[str, Any], facts: Named, env: str) -> int:
    """The least time the rollout engine takes in ``env`` (canary pauses, blue/green analysis); 0 for a rolling update."""
    return rollouts.rollout_seconds(spec.read(deployment, facts), env)


def stale(artifacts_dir: Path, rendered: Mapping[str, str]) -> list[str]:
    """Files rendering once wrote that it no longer writes (another strategy's workload, say)."""
    found = [
        f"k8s/{env}/{entry.name}"
        for env in ENVIRONMENTS
        if (artifacts_dir / "k8s" / env).is_dir()
        for entry in sorted(os.scandir(artifacts_dir / "k8s" / env), key=lambda entry: entry.name)
        if entry.name in KNOWN_FILES and not entry.is_dir(follow_symlinks=False)  # a folder is not ours to remove
    ]
    return [path for path in found if path not in rendered]


def check_matches(artifacts_dir: Path, deployment: dict[str, Any], facts: Named, on_disk: dict[str, str] | None = None) -> list[str]:
    """Derived files (relative to artifacts/) that are missing, differ from the plan's rendering, or are left over.

    ``on_disk``: the derived files as the caller already read them (path relative to artifacts/ → text); else read here.
    """
    try:
        rendered = render(deployment, facts)
    except (KeyError, TypeError, ValueError, AttributeError):
        return []  # a plan that cannot be rendered already has schema violations; they say what to fix
    read = on_disk.get if on_disk is not None else (lambda path: _read(artifacts_dir / path))
    differ = [path for path, text in rendered.items() if read(path) != text]
    return sorted(differ + stale(artifacts_dir, rendered))


def _read(path: Path) -> str | None:
    """The file's text; None (so it differs) when it is missing, unreadable, a link or not a regular file."""
    try:
        return read_text(path)
    except InputError:
        return None
