"""Prometheus alerting rules from the plan's alerts: a PrometheusRule per environment, and plain groups for promtool."""

from __future__ import annotations

from typing import Any

from agent.rendering.spec import Spec

DOWN_FOR = "2m"
DEFAULT_FOR = "5m"
"""When the plan gives no `for`: a Down alert waits 2 minutes, any other 5; one failed scrape never pages."""


def availability(job: str) -> str:
    """The condition of the alert every plan keeps: the service is down or not scraped at all."""
    return f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})'


def anchor(alert_name: str) -> str:
    """GitHub's slug of the runbook heading ``### <AlertName>`` (alert names are ``[A-Za-z][A-Za-z0-9_]*``)."""
    return alert_name.lower()


def default_for(alert: dict[str, Any]) -> str:
    condition = str(alert.get("condition", ""))
    down = str(alert.get("name", "")).endswith("Down") or "absent(" in condition or condition.lstrip().startswith("up")
    return DOWN_FOR if down else DEFAULT_FOR


def groups(spec: Spec, env: str) -> list[dict[str, Any]]:
    return [{"name": f"{spec.app}.rules", "rules": [rule(spec, alert, env) for alert in spec.alerts]}]


def rule(spec: Spec, alert: dict[str, Any], env: str) -> dict[str, Any]:
    name, severity = alert["name"], alert["severity"]
    wait = alert.get("for") or default_for(alert)
    # The plan's labels first; severity, service and environment are ours (routing depends on them).
    labels = {**alert.get("labels", {}), "severity": severity, "service": spec.app, "environment": env}
    annotations = {
        "summary": f"{name}: {spec.app} in {env} ({severity})",
        "description": _description(alert, wait),
        **alert.get("annotations", {}),
        "runbook_url": f"{spec.runbook}#{anchor(name)}",
    }
    return {"alert": name, "expr": alert["condition"], "for": wait, "labels": labels, "annotations": annotations}


def _description(alert: dict[str, Any], wait: str) -> str:
    # Annotations are Go templates: text of the plan must never open one ("{{"); ours adds the value on purpose.
    condition = _no_template(str(alert["condition"]))
    action = _no_template(str(alert["action"]))
    return f"{condition} has held for {wait} (value {{{{ $value | humanize }}}}). Action: {action}."


def _no_template(text: str) -> str:
    return text.replace("{{", "{ {").replace("}}", "} }")


def prometheus_rule(spec: Spec, env: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": spec.metadata(spec.rules),
        "spec": {"groups": groups(spec, env)},
    }


def rule_file(spec: Spec) -> dict[str, Any]:
    """prometheus/rules.yml: production's rules as plain groups, for promtool or a Prometheus without the operator."""
    return {"groups": groups(spec, "production")}
