"""Rendered manifests: what each strategy deploys, checked by the real schemas and tools, on services of several kinds."""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.facts import Facts
from agent.rendering import manifests, rollouts
from agent.rendering.memo import MANIFESTS, Renderings
from agent.validation import check_deployment, errors, k8s, promql
from agent.workspace import Workspace
from tests import vendor_crds
from tests.conftest import EXAMPLE, REQUIRE_TOOLS, ROOT, missing_tools, needs
from tests.services import LONG_NAME, SERVICES, make, plan_for

CASES = ROOT / "fixtures" / "validator" / "manifests"
_EXPECT = re.compile(r"expect:\s*(.+?)\s*$")
MISSING_TOOLS = [] if REQUIRE_TOOLS else missing_tools("kubernetes-validate", "promql-parser", "promtool")
needs_tools = needs("kubernetes-validate", "promql-parser", "promtool")

Rendered = tuple[dict[str, Any], Facts, dict[str, str]]


def stamped(body: dict[str, Any]) -> dict[str, Any]:
    return {"epic_id": "EP-001", "iteration": 1, "timestamp": "2026-11-27T12:00:00Z", **body}


@pytest.fixture(scope="module", params=["example", *SERVICES])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp(request.param) / "project"
    if request.param == "example":
        shutil.copytree(EXAMPLE, root)
        workspace = Workspace.locate(root)
    else:
        workspace = make(root, SERVICES[request.param])
    body, facts = plan_for(workspace)
    deployment = stamped(body)
    return deployment, facts, manifests.render(deployment, facts)


def service(key: str, tmp_path: Path, **change: Any) -> Rendered:
    body, facts = plan_for(make(tmp_path / key, SERVICES[key]))
    deployment = stamped(body)
    for dotted, value in change.items():
        *parents, last = dotted.split("__")
        target: Any = deployment
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return deployment, facts, manifests.render(deployment, facts)


def load(files: dict[str, str], path: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(files[path]) if doc]


def one(files: dict[str, str], path: str) -> dict[str, Any]:
    [doc] = load(files, path)
    return doc


def test_the_offline_plan_of_every_service_is_valid(rendered: Rendered) -> None:
    deployment, facts, _ = rendered
    assert [str(v) for v in errors(check_deployment(deployment, facts.endpoints))] == []


def test_reading_a_rendered_file_back_gives_the_documents_it_was_dumped_from(rendered: Rendered) -> None:
    """What lets the checks take a file that matches its rendering as the rendered documents, without parsing it."""
    from agent.documents import parse_yaml

    deployment, facts, _ = rendered
    files = manifests.render(deployment, facts)
    for path, text in files.items():
        parsed = [parse_yaml(part, Path(path)) for part in k8s._DOCUMENT_BREAK.split(text) if part.strip()]
        assert list(MANIFESTS.of(text) or ()) == parsed, path
    assert MANIFESTS.of(files["prometheus/rules.yml"] + "# edited\n") is None
    k8s.check(files)  # the checks read the remembered documents and must leave them as they were dumped
    assert all(manifests.dump(*(MANIFESTS.of(text) or ())) == text for text in files.values())


def test_only_the_latest_renderings_are_kept_for_reading_back(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = Renderings(kept=MANIFESTS.kept)
    monkeypatch.setattr(manifests, "MANIFESTS", kept)
    first = manifests.dump({"kind": "ConfigMap", "metadata": {"name": "first"}})
    for n in range(kept.kept):
        manifests.dump({"kind": "ConfigMap", "metadata": {"name": f"later-{n}"}})
    assert kept.of(first) is None and len(kept) == kept.kept
    assert kept.of(manifests.dump({"kind": "ConfigMap"})) == ({"kind": "ConfigMap"},)
    again = manifests.dump({"kind": "ConfigMap", "metadata": {"name": "later-0"}})  # remembered anew: now the newest
    manifests.dump({"kind": "ConfigMap", "metadata": {"name": "one more"}})
    assert kept.of(again) is not None


@needs_tools
def test_every_rendered_file_passes_every_check_with_the_real_tools(rendered: Rendered) -> None:
    _, _, files = rendered
    assert [str(v) for v in k8s.check(files)] == []


def test_each_environment_is_a_kustomization_of_the_files_beside_it(rendered: Rendered) -> None:
    deployment, facts, files = rendered
    for env in ("dev", "staging", "production"):
        kustomization = one(files, f"k8s/{env}/kustomization.yaml")
        beside = {path.rsplit("/", 1)[1] for path in files if path.startswith(f"k8s/{env}/")} - {"kustomization.yaml"}
        assert set(kustomization["resources"]) == beside
        assert kustomization["namespace"] == deployment["infrastructure"]["namespace"]
        assert kustomization["images"] == [{"name": facts.app, "newName": deployment["infrastructure"]["image"], "newTag": "latest"}]
    assert "prometheus/rules.yml" in files


def test_every_object_carries_the_app_label_and_namespace(rendered: Rendered) -> None:
    deployment, facts, files = rendered
    for path in files:
        if path.startswith("k8s/") and not path.endswith("kustomization.yaml"):
            for doc in load(files, path):
                assert doc["metadata"]["namespace"] == deployment["infrastructure"]["namespace"], path
                assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == facts.app, path


def test_rolling_keeps_capacity_and_leaves_the_count_to_the_autoscaler(tmp_path: Path) -> None:
    _, facts, files = service("node-rolling", tmp_path)
    workload = one(files, "k8s/production/deployment.yaml")
    assert workload["kind"] == "Deployment"
    assert workload["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    assert "replicas" not in workload["spec"]
    target = one(files, "k8s/production/hpa.yaml")["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": facts.app}
    assert not any("rollout.yaml" in p or "analysistemplate" in p for p in files)


def test_canary_starts_at_the_plans_percentage_and_pauses_for_its_duration(tmp_path: Path) -> None:
    deployment, facts, files = service(
        "python-canary",
        tmp_path,
        deployment_strategy__stages__2__canary_percentage=25,
        deployment_strategy__stages__2__canary_duration_hours=1.5,
    )
    canary = one(files, "k8s/production/rollout.yaml")["spec"]["strategy"]["canary"]
    assert canary["steps"] == [{"setWeight": 25}, {"pause": {"duration": "90m"}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}]
    assert canary["maxUnavailable"] == 0
    # Background analysis from the first pause on: a failing metric aborts, and Argo Rollouts returns to stable.
    assert canary["analysis"] == {"templates": [{"templateName": f"{facts.app}-analysis"}], "startingStep": 1}
    dev = one(files, "k8s/dev/rollout.yaml")["spec"]["strategy"]["canary"]["steps"]
    assert dev[:2] == [{"setWeight": 25}, {"pause": {"duration": rollouts.TRIAL_PAUSE}}]
    assert manifests.rollout_seconds(deployment, facts, "production") == 90 * 60 + 10 * 60


def test_canary_analysis_fails_on_the_plans_critical_alerts(tmp_path: Path) -> None:
    deployment, _, files = service("python-canary", tmp_path)
    template = one(files, "k8s/production/analysistemplate.yaml")
    critical = [a for a in deployment["monitoring"]["alerts"] if a["severity"] == "critical"]
    metrics = template["spec"]["metrics"]
    assert [m["name"] for m in metrics] == [a["name"] for a in critical]
    for metric, alert in zip(metrics, critical, strict=True):
        assert metric["provider"]["prometheus"]["query"] == alert["condition"]
        assert metric["failureCondition"] == "len(result) > 0"
        assert metric["failureLimit"] == rollouts.FAILURE_LIMIT
        assert "count" not in metric  # background analysis runs until the last step
    assert any("> 0.005" in m["provider"]["prometheus"]["query"] for m in metrics)  # the plan's "refund error rate > 0.5%"


def test_a_whole_hour_stays_a_whole_hour() -> None:
    assert [rollouts.duration(h) for h in (1, 2, 0.5, 0.25, 1 / 3600, 0.0001)] == ["1h", "2h", "30m", "15m", "1s", "1s"]


def test_blue_green_waits_for_a_person_in_production_only(tmp_path: Path) -> None:
    _, facts, files = service("go-blue-green", tmp_path)
    for env, automatic in (("dev", True), ("staging", True), ("production", False)):
        blue_green = one(files, f"k8s/{env}/rollout.yaml")["spec"]["strategy"]["blueGreen"]
        assert blue_green["autoPromotionEnabled"] is automatic
        assert blue_green["activeService"] == facts.app
        assert blue_green["previewService"] == f"{facts.app}-preview"
        assert blue_green["prePromotionAnalysis"] == {"templates": [{"templateName": f"{facts.app}-analysis"}]}
    services = [doc["metadata"]["name"] for doc in load(files, "k8s/production/service.yaml")]
    assert services == [facts.app, f"{facts.app}-preview"]
    # A pre-promotion analysis must end, or the rollout would never promote.
    assert all(m["count"] == rollouts.PREVIEW_CHECKS for m in one(files, "k8s/production/analysistemplate.yaml")["spec"]["metrics"])


@pytest.mark.parametrize("key", ["python-canary", "go-blue-green"])
def test_every_rollout_rolls_back_to_a_recent_revision_without_its_steps(key: str, tmp_path: Path) -> None:
    _, _, files = service(key, tmp_path)
    for env in ("dev", "staging", "production"):
        # Without the window an undo replays the canary steps and analysis: a rollback would take the canary's hours.
        assert one(files, f"k8s/{env}/rollout.yaml")["spec"]["rollbackWindow"] == {"revisions": rollouts.ROLLBACK_WINDOW}
    assert rollouts.ROLLBACK_WINDOW >= 1


def test_the_pod_runs_locked_down_with_the_plans_probes_ports_and_resources(tmp_path: Path) -> None:
    deployment, _, files = service("go-blue-green", tmp_path)
    pod = one(files, "k8s/staging/rollout.yaml")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    checks = deployment["health_checks"]
    for key, plan in (("readinessProbe", checks["readiness"]), ("livenessProbe", checks["liveness"])):
        probe = container[key]
        assert probe["httpGet"] == {"path": plan["endpoint"], "port": "http"}
        assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (
            plan["interval_seconds"],
            plan["timeout_seconds"],
            plan["failure_threshold"],
        )
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
    asked = deployment["infrastructure"]["resources_required"]
    wanted = {"cpu": asked["cpu"], "memory": asked["memory"]}
    assert container["resources"] == {"requests": wanted, "limits": wanted}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False


def test_autoscaler_and_disruption_budget_follow_the_plan(tmp_path: Path) -> None:
    _, _, files = service(
        "node-rolling",
        tmp_path,
        infrastructure__scaling={"min_replicas": 3, "max_replicas": 7, "target_cpu": 60},
    )
    hpa = one(files, "k8s/production/hpa.yaml")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 7)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert one(files, "k8s/production/pdb.yaml")["spec"]["maxUnavailable"] == 1


def test_a_separate_metrics_port_is_named_and_scraped(tmp_path: Path) -> None:
    _, facts, files = service("node-rolling", tmp_path, infrastructure__metrics_port=9100, infrastructure__metrics_path="/internal/metrics")
    ports = one(files, "k8s/dev/deployment.yaml")["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert ports[1] == {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}
    monitor = one(files, "k8s/dev/podmonitor.yaml")["spec"]
    assert monitor["podMetricsEndpoints"] == [{"port": "metrics", "path": "/internal/metrics", "interval": "30s"}]
    assert monitor["jobLabel"] == "app.kubernetes.io/name"  # job="<app>", the job the alerts select
    assert monitor["selector"] == {"matchLabels": {"app.kubernetes.io/name": facts.app}}


@pytest.mark.parametrize("strategy", ["canary", "blue_green", "rolling"])
def test_a_very_long_service_name_gives_valid_names_everywhere(strategy: str, tmp_path: Path) -> None:
    deployment, facts, files = service("long-name", tmp_path, deployment_strategy__type=strategy)
    if strategy == "canary":
        assert deployment["deployment_strategy"]["stages"][2]["canary_percentage"] == 10
    assert len(LONG_NAME) > 63 and len(facts.app) <= 63 and not facts.app.endswith("-")
    assert [str(v) for v in k8s.check(files) if v.rule == "manifests.names"] == []
    names = [doc["metadata"]["name"] for path in files if path.startswith("k8s/") for doc in load(files, path) if "metadata" in doc]
    services = [doc["metadata"]["name"] for doc in load(files, "k8s/production/service.yaml")]
    assert all(len(n) <= 63 and n[0].isalpha() for n in services)
    assert len(set(services)) == len(services)
    assert all(len(n) <= 253 for n in names)
    assert manifests.workload(deployment, facts).name == facts.app


def test_workload_names_what_every_artifact_refers_to(tmp_path: Path) -> None:
    deployment, facts, files = service("go-blue-green", tmp_path)
    workload = manifests.workload(deployment, facts)
    rollout = one(files, "k8s/production/rollout.yaml")
    metadata, container = rollout["metadata"], rollout["spec"]["template"]["spec"]["containers"][0]
    assert (workload.kind, workload.name, workload.namespace) == (rollout["kind"], metadata["name"], metadata["namespace"])
    assert (workload.container, workload.image_name) == (container["name"], container["image"])
    assert workload.strategy == "blue_green"
    assert (workload.preview_service, workload.analysis) == (f"{facts.app}-preview", f"{facts.app}-analysis")


def test_rendering_is_deterministic(rendered: Rendered) -> None:
    deployment, facts, files = rendered
    assert manifests.render(copy.deepcopy(deployment), facts) == files


def write(artifacts: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (artifacts / path).parent.mkdir(parents=True, exist_ok=True)
        (artifacts / path).write_text(text)


def test_check_matches_names_what_drifted_from_the_plan(tmp_path: Path) -> None:
    deployment, facts, files = service("python-canary", tmp_path)
    artifacts = tmp_path / "out"
    write(artifacts, files)
    assert manifests.check_matches(artifacts, deployment, facts) == []
    deployment["infrastructure"]["scaling"]["max_replicas"] = 12
    assert manifests.check_matches(artifacts, deployment, facts) == [f"k8s/{env}/hpa.yaml" for env in ("dev", "production", "staging")]
    deployment["deployment_strategy"]["type"] = "rolling"
    drifted = manifests.check_matches(artifacts, deployment, facts)
    assert {"k8s/production/deployment.yaml", "k8s/production/rollout.yaml", "k8s/production/analysistemplate.yaml"} <= set(drifted)


def test_check_matches_leaves_an_unrenderable_plan_to_the_schema(tmp_path: Path) -> None:
    deployment, facts, _ = service("node-rolling", tmp_path)
    del deployment["infrastructure"]
    assert manifests.check_matches(tmp_path, deployment, facts) == []


def test_check_derived_reports_drift_and_the_files_problems(tmp_path: Path) -> None:
    deployment, facts, files = service("node-rolling", tmp_path)
    artifacts = tmp_path / "out"
    write(artifacts, files)
    (artifacts / "k8s/staging/service.yaml").write_text(files["k8s/staging/service.yaml"].replace("targetPort: http", "targetPrt: http"))
    found = {(v.artifact, v.rule) for v in k8s.check_derived(artifacts, deployment, facts) if v.severity == "error"}
    assert ("k8s/staging/service.yaml", "manifests.up_to_date") in found
    if "kubernetes-validate" not in MISSING_TOOLS:
        assert ("k8s/staging/service.yaml", "manifests.kubernetes_schema") in found


def test_an_absent_tool_is_a_warning_naming_the_skipped_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, files = service("python-canary", tmp_path)
    monkeypatch.setattr("agent.validation.tools.find", lambda name: None)
    monkeypatch.setattr(promql, "available", lambda: False)
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)  # import fails as if not installed
    found = k8s.check(files)
    assert found and all(v.severity == "warning" and v.rule == "tools.missing" for v in found)
    said = " ".join(v.message for v in found)
    for tool in ("promtool check rules skipped", "PromQL syntax of the rules skipped", "Kubernetes schema check of core objects skipped"):
        assert tool in said


def test_the_vendored_crd_schemas_are_what_the_crds_say() -> None:
    assert vendor_crds.main([]) == 0, "run python -m tests.vendor_crds --write"
    rollout = vendor_crds.schema("rollout")
    assert rollout["properties"]["kind"] == {"const": "Rollout"}
    assert rollout["properties"]["spec"]["additionalProperties"] is False


def _case(path: Path) -> tuple[dict[str, str], list[str]]:
    text = path.read_text()
    match = _EXPECT.search(text.splitlines()[0])
    return {f"k8s/production/{path.name}": text}, [e.strip() for e in match.group(1).split(";")] if match else []


def _tools_for(expect: list[str]) -> list[str]:
    wanted = {"alerts.promtool": "promtool", "manifests.kubernetes_schema": "kubernetes-validate", "alerts.rules": "promql-parser"}
    return [wanted[e.split(" @ ")[0]] for e in expect if e.split(" @ ")[0] in wanted and wanted[e.split(" @ ")[0]] in MISSING_TOOLS]


@pytest.mark.parametrize("path", sorted((CASES / "invalid").iterdir()), ids=lambda p: p.name)
def test_invalid_manifest_case_reports_exactly_what_it_expects(path: Path) -> None:
    files, expect = _case(path)
    assert expect, f"{path} states no expectation"
    if _tools_for(expect):
        pytest.skip(f"needs {', '.join(_tools_for(expect))}, not installed here (CI installs it)")
    assert sorted(f"{v.rule} @ {v.path}" for v in k8s.check(files) if v.severity == "error") == sorted(expect)


@needs_tools
@pytest.mark.parametrize("path", sorted((CASES / "valid").iterdir()), ids=lambda p: p.name)
def test_valid_manifest_case_passes(path: Path) -> None:
    files, _ = _case(path)
    assert [str(v) for v in k8s.check(files)] == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here (its built-in kustomize builds the folders)")
@pytest.mark.parametrize("key", ["python-canary", "go-blue-green", "node-rolling"])
def test_kustomize_builds_each_environment_and_pins_the_image(key: str, tmp_path: Path) -> None:
    deployment, _, files = service(key, tmp_path, infrastructure__image="ghcr.io/acme/shop")
    write(tmp_path / "out", files)
    built = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path / "out" / "k8s" / "production")], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(built) if doc]
    assert {doc["metadata"]["namespace"] for doc in docs} == {deployment["infrastructure"]["namespace"]}
    [workload] = [doc for doc in docs if doc["kind"] in {"Deployment", "Rollout"}]
    # The images transformer reaches a Rollout's pod template too, so the workflow's `kustomize edit set image` pins it.
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/shop:latest"
    assert len(docs) == len(one(files, "k8s/production/kustomization.yaml")["resources"]) + (1 if key == "go-blue-green" else 0)


def test_a_service_named_like_a_cluster_namespace_deploys_into_its_own(tmp_path: Path) -> None:
    """Kubernetes reserves kube-*: a service called kube-proxy-helper gets app-kube-proxy-helper, which every check accepts."""
    body, facts = plan_for(make(tmp_path / "kube", dataclasses.replace(SERVICES["long-name"], name="kube-proxy-helper")))
    deployment = stamped(body)
    assert facts.app == "kube-proxy-helper" and deployment["infrastructure"]["namespace"] == "app-kube-proxy-helper"
    assert [str(v) for v in errors(check_deployment(deployment, facts.endpoints))] == []
    files = manifests.render(deployment, facts)
    assert [str(v) for v in k8s.check(files) if v.rule == "manifests.names"] == []
    del deployment["infrastructure"]["namespace"]  # left out (as the schema's message suggests): the same default
    files = manifests.render(deployment, facts)
    assert {d["metadata"]["namespace"] for d in load(files, "k8s/production/rollout.yaml")} == {"app-kube-proxy-helper"}
    assert [str(v) for v in k8s.check(files) if v.rule == "manifests.names"] == []
    deployment["infrastructure"]["namespace"] = "kube-system"  # the schema refuses it; the rendered files do too
    found = [v for v in k8s.check(manifests.render(deployment, facts)) if v.rule == "manifests.names"]
    assert found and all("'kube-system' is reserved for the cluster" in v.message for v in found)


@pytest.mark.parametrize("condition", ['up{job="api"} == 2', 'up{job="api"} offset 5y == 0', 'up{job="api"} * 0 > 1'])
def test_a_plan_that_drops_its_availability_alert_is_refused(condition: str, tmp_path: Path) -> None:
    """Alerts that watch the service and still never fire: the one alert every plan keeps is the Down alert, as written."""
    if not promql.available():
        pytest.skip("promql-parser is not installed")
    deployment, facts, files = service("python-canary", tmp_path)
    assert [v for v in k8s.check(files) if v.rule == "alerts.availability"] == []
    down = next(a for a in deployment["monitoring"]["alerts"] if a["name"].endswith("Down"))
    down["condition"] = condition.replace("api", facts.app)
    found = [v for v in k8s.check(manifests.render(deployment, facts)) if v.rule == "alerts.availability"]
    assert found and all(f'up{{job="{facts.app}"}} == 0 or absent(up{{job="{facts.app}"}})' in v.message for v in found)


@pytest.mark.parametrize(("wait", "refused"), [("99y", True), ("1h", True), ("15m", False), ("2m", False)])
def test_the_down_alert_pages_within_a_quarter_hour(wait: str, refused: bool, tmp_path: Path) -> None:
    """`for: 99y` kept every alert, the Down alert too, from ever firing."""
    deployment, facts, _ = service("python-canary", tmp_path)
    for alert in deployment["monitoring"]["alerts"]:
        alert["for"] = wait
    found = [v.message for v in k8s.check(manifests.render(deployment, facts)) if v.rule == "alerts.availability"]
    assert bool(found) is refused and all(f"the Down alert waits '{wait}' before it pages" in m for m in found)


def test_or_vector_0_the_idiom_for_none_yet_is_not_an_inert_alert(tmp_path: Path) -> None:
    if not promql.available():
        pytest.skip("promql-parser is not installed")
    deployment, facts, _ = service("python-canary", tmp_path)
    errors_at = next(a for a in deployment["monitoring"]["alerts"] if a["name"].endswith("HighErrorRate"))
    job = f'job="{facts.app}"'
    total = f"sum(rate(http_requests_total{{{job}}}[5m]))"
    errors_at["condition"] = f'(sum(rate(http_requests_total{{{job},code=~"5.."}}[5m])) or vector(0)) / {total} > 0.01'
    assert [str(v) for v in k8s.check(manifests.render(deployment, facts)) if v.rule == "alerts.selects_service"] == []
