"""What the manifests are rendered from: the plan read once, with its defaults, and every Kubernetes name derived."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from agent.names import dns_label, planned_namespace

if TYPE_CHECKING:
    from agent.facts import Named

ENVIRONMENTS = ("dev", "staging", "production")
DEFAULT_PORT = 8080
DEFAULT_METRICS_PATH = "/metrics"
NAME_LABEL = "app.kubernetes.io/name"


class Spec(NamedTuple):
    """One plan, as rendering needs it (a schema-valid deployment.json; optional fields defaulted)."""

    app: str
    namespace: str
    image: str
    strategy: str
    port: int
    metrics_port: int
    metrics_path: str
    cpu: str
    memory: str
    min_replicas: int
    max_replicas: int
    target_cpu: int
    readiness: dict[str, Any]
    liveness: dict[str, Any]
    stages: dict[str, dict[str, Any]]
    alerts: list[dict[str, Any]]
    runbook: str
    """Where runbook.md is, relative to the repository root (alerts link to its sections)."""

    @property
    def kind(self) -> str:
        return "Deployment" if self.strategy == "rolling" else "Rollout"

    @property
    def service(self) -> str:
        return service_name(self.app)

    @property
    def preview_service(self) -> str:
        return service_name(f"{self.app}-preview")

    @property
    def analysis(self) -> str:
        return f"{self.app}-analysis"

    @property
    def rules(self) -> str:
        return f"{self.app}-alerts"

    @property
    def labels(self) -> dict[str, str]:
        return {NAME_LABEL: self.app, "app.kubernetes.io/managed-by": "devops-agent"}

    @property
    def selector(self) -> dict[str, str]:
        return {NAME_LABEL: self.app}

    def metadata(self, name: str) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace, "labels": dict(self.labels)}

    def stage(self, env: str) -> dict[str, Any]:
        return self.stages.get(env, {})


def read(deployment: dict[str, Any], facts: Named) -> Spec:
    infra, scaling = deployment["infrastructure"], deployment["infrastructure"]["scaling"]
    resources = infra["resources_required"]
    app = dns_label(facts.app, "app")
    port = infra.get("container_port", DEFAULT_PORT)
    return Spec(
        app=app,
        namespace=planned_namespace(infra, app) or app,  # app is a label: never empty
        image=infra.get("image", app),
        strategy=deployment["deployment_strategy"]["type"],
        port=port,
        metrics_port=infra.get("metrics_port", port),
        metrics_path=infra.get("metrics_path", DEFAULT_METRICS_PATH),
        cpu=resources["cpu"],
        memory=resources["memory"],
        # The plan's replicas is its floor: the autoscaler never goes below it.
        min_replicas=max(scaling["min_replicas"], resources["replicas"]),
        max_replicas=max(scaling["max_replicas"], scaling["min_replicas"], resources["replicas"]),
        target_cpu=scaling["target_cpu"],
        readiness=deployment["health_checks"]["readiness"],
        liveness=deployment["health_checks"]["liveness"],
        stages={s["stage"]: s for s in deployment["deployment_strategy"]["stages"]},
        alerts=deployment["monitoring"]["alerts"],
        runbook=f"{facts.artifacts_dir}/runbook.md",
    )


def service_name(text: str) -> str:
    """A Service name: a DNS-1035 label (≤ 63 characters, starting with a letter)."""
    label = dns_label(text, "app")
    return label if label[0].isalpha() else dns_label(f"svc-{label}", "app")
