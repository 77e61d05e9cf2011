"""Check the derived files (k8s/<env>/*, prometheus/rules.yml) with the schemas and tools their users run.

Core objects go to kubernetes-validate's strict schemas (misspelt keys included); Rollout and AnalysisTemplate
to the Argo Rollouts v1.9.1 CRD schemas; PrometheusRule, PodMonitor and kustomization.yaml to ``schemas/crds/``;
alert rules to promql-parser and ``promtool check rules``. A missing tool is a warning naming the skipped check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from agent.documents import parse_yaml, read_text
from agent.errors import InputError
from agent.names import DNS_LABEL, RESERVED_NAMESPACE_PREFIX
from agent.rendering.memo import MANIFESTS
from agent.validation import alerting, argo, promql, schemas, tools
from agent.validation.schemas import Checker, Resources
from agent.validation.violations import Violation, as_list, declare, dig, json_path, rule

if TYPE_CHECKING:
    from agent.facts import Named

A = "k8s/, prometheus/"
KUBERNETES_VALIDATE = "kubernetes-validate"
KUBERNETES_MODULE = "kubernetes_validate"
MAX_ERRORS_PER_DOCUMENT = 10
SCHEMAS = {
    ("argoproj.io/v1alpha1", "Rollout"): "rollout",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "analysistemplate",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor",
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): "kustomization",
}
_DOCUMENT_BREAK = re.compile(r"(?m)^---[ \t]*$")

YAML = declare("manifests.yaml", A, "every derived file is YAML whose documents are mappings")


@rule("manifests.up_to_date", A, "the derived files are what deployment.json renders to (`devops-agent render` rewrites them)")
def check_derived(artifacts_dir: Path, deployment: dict[str, Any], facts: Named) -> list[Violation]:
    """What `validate` runs: derived files that drifted from the plan, then every check of the files on disk."""
    from agent.rendering.manifests import check_matches

    files, unreadable, linked = _read_derived(artifacts_dir)
    drifted = [
        Violation(path, "$", "manifests.up_to_date", "does not match deployment.json; run `devops-agent render` to rewrite it")
        for path in check_matches(artifacts_dir, deployment, facts, files)
        if not path.startswith(linked)  # a linked folder is reported once, not as every file it should hold
    ]
    return drifted + unreadable + check(files)


def check_plan(deployment: dict[str, Any], facts: Named) -> list[Violation]:
    """What the tool loop runs on a staged plan: its rendering, checked (no files on disk needed)."""
    from agent.rendering.manifests import render

    return check(render(deployment, facts))


def _read_derived(artifacts_dir: Path) -> tuple[dict[str, str], list[Violation], tuple[str, ...]]:
    """The derived files on disk by path relative to artifacts/ (each read once, never through a link), those
    unreadable, and the folders of them that are links (each reported, none read: ``<folder>/``)."""
    k8s, prometheus = artifacts_dir / "k8s", artifacts_dir / "prometheus"
    environments = [] if k8s.is_symlink() else sorted(p for p in k8s.glob("*") if p.is_dir())
    linked = [folder for folder in (k8s, *environments, prometheus) if folder.is_symlink()]
    never = "is a symbolic link; the agent never reads through links"
    problems = [Violation(folder.relative_to(artifacts_dir).as_posix(), "$", YAML, f"{folder}: {never}") for folder in linked]
    files: dict[str, str] = {}
    for path in (p for folder in (*environments, prometheus) if folder not in linked for p in sorted(folder.glob("*.y*ml"))):
        relative = path.relative_to(artifacts_dir).as_posix()
        try:
            files[relative] = read_text(path)
        except InputError as err:
            problems.append(Violation(relative, "$", YAML, str(err)))
    return files, problems, tuple(f"{folder.relative_to(artifacts_dir).as_posix()}/" for folder in linked)


def check(files: dict[str, str]) -> list[Violation]:
    """Every violation in the derived files given by path relative to artifacts/."""
    found: list[Violation] = []
    core: list[tuple[str, dict[str, Any], str]] = []
    rule_files: dict[str, Any] = {}
    documents = [(path, artifact, doc) for path, text in sorted(files.items()) for artifact, doc in _documents(path, text, found)]
    templates: dict[str, set[str]] = {}
    for path, _, doc in documents:
        if doc.get("kind") == "AnalysisTemplate" and isinstance(dig(doc, "metadata", "name"), str):
            templates.setdefault(str(PurePosixPath(path).parent), set()).add(doc["metadata"]["name"])
    for path, artifact, doc in documents:
        found += _check_document(artifact, doc, files, core, rule_files)
        if doc.get("kind") == "Rollout":
            found += argo.rollout(artifact, doc, templates.get(str(PurePosixPath(path).parent), set()))
    found += _check_core(core)
    found += alerting.run_promtool(rule_files)
    return _dedupe(found)


def _documents(path: str, text: str, found: list[Violation]) -> Iterator[tuple[str, dict[str, Any]]]:
    if (rendered := MANIFESTS.of(text)) is not None:  # exactly what rendering wrote: its documents, not a parse of them
        yield from ((f"{path} (document {n})" if len(rendered) > 1 else path, doc) for n, doc in enumerate(rendered, start=1))
        return
    parts = [p for p in _DOCUMENT_BREAK.split(text) if p.strip()]
    for n, part in enumerate(parts, start=1):
        artifact = f"{path} (document {n})" if len(parts) > 1 else path
        try:
            doc = parse_yaml(part, Path(path))
        except InputError as err:
            found.append(Violation(artifact, "$", YAML, str(err)))
            continue
        if isinstance(doc, dict):
            yield artifact, doc
        elif doc is not None:  # an empty document (comments only) is skipped, as kubectl does
            found.append(Violation(artifact, "$", YAML, f"expected a mapping, found {type(doc).__name__}"))


def _check_document(
    artifact: str, doc: dict[str, Any], files: dict[str, str], core: list[tuple[str, dict[str, Any], str]], rule_files: dict[str, Any]
) -> list[Violation]:
    key = (doc.get("apiVersion"), doc.get("kind"))
    names = list(_names(artifact, doc))
    if "groups" in doc and "kind" not in doc:
        rule_files[artifact] = doc
        return [*_schema(artifact, doc, "rulefile"), *alerting.check_groups(doc.get("groups"), artifact, "$.groups")]
    if key not in SCHEMAS:
        core.append((artifact, doc, ""))
        return names
    found = names + _schema(artifact, doc, SCHEMAS[key])
    if key[1] == "Rollout" and isinstance(dig(doc, "spec", "template"), dict):
        pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "template"}, "template": doc["spec"]["template"]}
        core.append((artifact, pod, "$.spec"))
    elif key[1] == "PrometheusRule":
        rule_files[artifact] = {"groups": dig(doc, "spec", "groups")}
        found += alerting.check_groups(dig(doc, "spec", "groups"), artifact, "$.spec.groups")
    elif key[1] == "AnalysisTemplate":
        found += [*_analysis(artifact, doc), *argo.analysis_template(artifact, doc)]
    elif key[1] == "Kustomization":
        found += _kustomization(artifact, doc, files)
    return found


_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SERVICE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")


@rule(
    "manifests.names",
    A,
    "names are what the API server accepts: objects DNS-1123 subdomains, a Service a DNS-1035 label, "
    "namespaces, containers and label values ≤ 63 characters; no namespace the cluster reserves (`kube-*`)",
)
def _names(artifact: str, doc: dict[str, Any]) -> Iterator[Violation]:
    name, kind = dig(doc, "metadata", "name"), doc.get("kind")
    service = kind == "Service"
    checks: list[tuple[str, Any, re.Pattern[str], str]] = [
        ("$.metadata.name", name, _SERVICE if service else _SUBDOMAIN, "a DNS-1035 label" if service else "a DNS-1123 subdomain"),
        ("$.metadata.namespace", dig(doc, "metadata", "namespace"), DNS_LABEL, "a DNS-1123 label"),
    ]
    checks += [(f"$.metadata.labels.{k}", v, _LABEL_VALUE, "a label value") for k, v in (dig(doc, "metadata", "labels") or {}).items()]
    containers = as_list(dig(doc, "spec", "template", "spec", "containers"))
    label = "a DNS-1123 label"
    checks += [(f"$.spec.template.spec.containers[{i}].name", dig(c, "name"), DNS_LABEL, label) for i, c in enumerate(containers)]
    for path, value, pattern, what in checks:
        limit = 253 if pattern is _SUBDOMAIN else 63
        if isinstance(value, str) and (len(value) > limit or not pattern.fullmatch(value)):
            yield Violation(artifact, path, "manifests.names", f"{value!r} is not {what} (at most {limit} characters)")
    namespace = dig(doc, "metadata", "namespace")
    if isinstance(namespace, str) and namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        yield Violation(artifact, "$.metadata.namespace", "manifests.names", f"{namespace!r} is reserved for the cluster; "
                        "set infrastructure.namespace to the app's own namespace")  # fmt: skip


@rule(
    "manifests.crd_schema",
    A,
    "Rollout and AnalysisTemplate match the Argo Rollouts v1.9.1 CRD schemas; PrometheusRule, PodMonitor, kustomization.yaml "
    "and prometheus/rules.yml their schemas in `schemas/crds/` (no unknown fields)",
)
def _schema(artifact: str, doc: Any, name: str) -> list[Violation]:
    return [
        Violation(artifact, json_path(err.absolute_path), "manifests.crd_schema", _message(err))
        for err in list(_crd_validator(name).iter_errors(doc))[:MAX_ERRORS_PER_DOCUMENT]
    ]


@cache
def _crd_validator(name: str) -> Checker:
    if name == "rulefile":
        group = schemas.load_file("crds/prometheusrule.schema.json")["$defs"]["group"]
        groups = {"type": "array", "items": group}
        schema = {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {"groups": groups}}
        return Checker(schema)
    return schemas.validator(f"crds/{name}.schema.json")


@rule("manifests.analysis", A, "every AnalysisTemplate metric queries Prometheus with valid PromQL and says when it fails")
def _analysis(artifact: str, doc: dict[str, Any]) -> Iterator[Violation]:
    for i, metric in enumerate(as_list(dig(doc, "spec", "metrics"))):
        query = dig(metric, "provider", "prometheus", "query")
        path = f"$.spec.metrics[{i}]"
        problem = promql.problem(query) if isinstance(query, str) and promql.available() else None
        if problem:
            yield Violation(artifact, f"{path}.provider.prometheus.query", "manifests.analysis", f"{query!r} {problem}")
        if isinstance(metric, dict) and not (metric.get("failureCondition") or metric.get("successCondition")):
            yield Violation(artifact, path, "manifests.analysis", "no failureCondition or successCondition: the metric can never fail")


@rule("manifests.kustomization", A, "a kustomization.yaml lists only files that exist beside it and names the image the workflow rewrites")
def _kustomization(artifact: str, doc: dict[str, Any], files: dict[str, str]) -> Iterator[Violation]:
    folder = PurePosixPath(artifact).parent
    for i, resource in enumerate(as_list(doc.get("resources"))):
        if isinstance(resource, str) and (folder / resource).as_posix() not in files:
            yield Violation(artifact, f"$.resources[{i}]", "manifests.kustomization", f"{resource!r} is not a file in {folder}/")
    if not as_list(doc.get("images")):
        yield Violation(artifact, "$.images", "manifests.kustomization", "no images entry: the workflow could not pin the version it built")


@rule(
    "manifests.kubernetes_schema",
    A,
    "core objects (Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, a Rollout's pod template) "
    "match Kubernetes' own schemas, strict (kubernetes-validate)",
)
def _check_core(core: list[tuple[str, dict[str, Any], str]]) -> list[Violation]:
    if not core:
        return []
    folder = _kubernetes_schemas()
    if folder is None:
        return [tools.skipped(A, KUBERNETES_VALIDATE, "Kubernetes schema check of core objects", "pip install kubernetes-validate")]
    version = folder.name.removeprefix("v").split("-")[0]
    found: list[Violation] = []
    for artifact, doc, prefix in core:
        validator = _core_validator(folder, str(doc.get("apiVersion")), str(doc.get("kind")))
        if validator is None:
            message = f"no Kubernetes {version} schema for apiVersion {doc.get('apiVersion')!r}, kind {doc.get('kind')!r}"
            found.append(Violation(artifact, "$", "manifests.kubernetes_schema", message))
            continue
        for err in list(validator.iter_errors(doc))[:MAX_ERRORS_PER_DOCUMENT]:
            path = json_path(err.absolute_path)
            where = prefix + path[1:] if prefix else path  # a Rollout's template was checked as a PodTemplate's
            found.append(Violation(artifact, where, "manifests.kubernetes_schema", f"{_message(err)} (Kubernetes {version})"))
    return found


def _kubernetes_schemas() -> Path | None:
    """kubernetes-validate's strict schemas of the newest Kubernetes it bundles, read as data (importing it costs ~140 ms)."""
    package = tools.module(KUBERNETES_MODULE)
    if package is None:
        return None
    root = package / "kubernetes-json-schema"
    folders = [f for f in root.glob("v*-local-strict") if (f / "_definitions.json").is_file()] if root.is_dir() else []
    return max(folders, key=lambda f: tuple(int(n) for n in re.findall(r"\d+", f.name)[:3]), default=None)


@cache
def _core_validator(folder: Path, api_version: str, kind: str) -> Checker | None:
    # The layout kubernetes-validate itself uses: <kind>-<group prefix>-<version>.json beside _definitions.json.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = folder / f"{kind.lower()}-{group_version}.json"
    if not re.fullmatch(r"[a-z0-9-]+\.json", path.name) or not path.is_file():
        return None
    return Checker(json.loads(path.read_text(encoding="utf-8")), _definitions(folder))


@cache
def _definitions(folder: Path) -> Resources:
    """_definitions.json (1.8 MB) under its own ``$id``, held once for every kind's schema."""
    definitions = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))
    return Resources({str(definitions.get("$id", "")): definitions})


def _message(err: Any) -> str:
    text = str(err.message)
    return text if len(text) <= 300 else text[:297] + "..."


def _dedupe(found: list[Violation]) -> list[Violation]:
    return sorted(set(found))
