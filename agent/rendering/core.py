"""Core Kubernetes objects of a service: pod template, Service, HorizontalPodAutoscaler, PodDisruptionBudget, PodMonitor."""

from __future__ import annotations

from typing import Any

from agent.rendering.spec import NAME_LABEL, Spec

# A fixed non-root user: runAsNonRoot alone fails on images whose USER is a name, not a number.
RUN_AS = 10001


def pod_template(spec: Spec) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(spec.labels)},
        "spec": {
            # The service does not call the Kubernetes API; a mounted token would only be something to steal.
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container(spec)],
            # readOnlyRootFilesystem: a writable /tmp is the one place most runtimes need.
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        },
    }


def container(spec: Spec) -> dict[str, Any]:
    quantities = {"cpu": spec.cpu, "memory": spec.memory}
    return {
        "name": spec.app,
        "image": spec.app,  # the name kustomization.yaml's `images` rewrites to the built image
        "imagePullPolicy": "IfNotPresent",
        "ports": ports(spec),
        "readinessProbe": probe(spec.readiness),
        "livenessProbe": probe(spec.liveness),
        "resources": {"requests": dict(quantities), "limits": dict(quantities)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def ports(spec: Spec) -> list[dict[str, Any]]:
    found = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    if spec.metrics_port != spec.port:
        found.append({"name": "metrics", "containerPort": spec.metrics_port, "protocol": "TCP"})
    return found


def metrics_port_name(spec: Spec) -> str:
    return "http" if spec.metrics_port == spec.port else "metrics"


def probe(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "httpGet": {"path": plan["endpoint"], "port": "http"},
        "periodSeconds": _whole(plan["interval_seconds"]),
        "timeoutSeconds": _whole(plan["timeout_seconds"]),
        "successThreshold": plan.get("success_threshold", 1),
        "failureThreshold": plan["failure_threshold"],
    }


def _whole(seconds: float) -> int:
    """Kubernetes counts probe seconds in whole numbers; round a fraction up, never to 0."""
    return max(1, int(-(-seconds // 1)))


def service(spec: Spec, name: str, role: str | None = None) -> dict[str, Any]:
    metadata = spec.metadata(name)
    if role:
        metadata["labels"]["app.kubernetes.io/component"] = role
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": dict(spec.selector),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(spec: Spec, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": spec.metadata(spec.app),
        "spec": {
            "scaleTargetRef": {"apiVersion": api_version, "kind": spec.kind, "name": spec.app},
            "minReplicas": spec.min_replicas,
            "maxReplicas": spec.max_replicas,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": spec.target_cpu}}}
            ],
        },
    }


def disruption_budget(spec: Spec) -> dict[str, Any]:
    # With at least two replicas (policy), one voluntary eviction at a time always leaves one serving.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": spec.metadata(spec.app),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(spec.selector)}},
    }


def pod_monitor(spec: Spec) -> dict[str, Any]:
    """Scrapes every pod of the app (stable, canary and preview alike) as job ``<app>``, the job the alerts select."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": spec.metadata(spec.app),
        "spec": {
            "jobLabel": NAME_LABEL,
            "selector": {"matchLabels": dict(spec.selector)},
            "podMetricsEndpoints": [{"port": metrics_port_name(spec), "path": spec.metrics_path, "interval": "30s"}],
        },
    }
