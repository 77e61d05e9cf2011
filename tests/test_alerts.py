"""Alerting rules: every plan alert with `for`, severity and a runbook link; the plan's own thresholds; promtool agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.models.offline import thresholds
from agent.rendering import alerts, manifests, spec
from agent.upstream import Plan
from agent.validation import alerting
from agent.workspace import Workspace
from tests.conftest import needs
from tests.services import SERVICES, make, plan_for

needs_promtool = needs("promtool")


def planned(key: str, root: Path) -> tuple[dict[str, Any], Any]:
    body, facts = plan_for(make(root / key, SERVICES[key]))
    return {"epic_id": "EP-001", "iteration": 1, "timestamp": "2026-11-27T12:00:00Z", **body}, facts


def rules_of(files: dict[str, str], path: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(files[path])
    groups = doc["spec"]["groups"] if "spec" in doc else doc["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_plan_alert_becomes_a_rule_with_for_severity_and_runbook_link(tmp_path: Path) -> None:
    deployment, facts = planned("python-canary", tmp_path)
    files = manifests.render(deployment, facts)
    for path in ("prometheus/rules.yml", "k8s/dev/prometheusrule.yaml", "k8s/production/prometheusrule.yaml"):
        rules = rules_of(files, path)
        assert [r["alert"] for r in rules] == [a["name"] for a in deployment["monitoring"]["alerts"]]
        for rule, alert in zip(rules, deployment["monitoring"]["alerts"], strict=True):
            assert rule["expr"] == alert["condition"]
            assert rule["for"] == alert["for"]
            assert rule["labels"]["severity"] == alert["severity"]
            assert rule["annotations"]["runbook_url"] == f"consensus/artifacts/runbook.md#{alert['name'].lower()}"
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_runbook_link_follows_the_per_epic_layout(per_epic: Path) -> None:
    body, facts = plan_for(Workspace.locate(per_epic))
    files = manifests.render({"epic_id": "EP-001", "iteration": 1, "timestamp": "t", **body}, facts)
    link = rules_of(files, "prometheus/rules.yml")[0]["annotations"]["runbook_url"]
    assert link.startswith("docs/specs/epic_01/consensus/artifacts/runbook.md#")


def test_down_fires_when_every_pod_is_gone_too(tmp_path: Path) -> None:
    deployment, _ = planned("node-rolling", tmp_path)
    down = deployment["monitoring"]["alerts"][0]
    assert down["name"] == "StorefrontDown"
    assert down["condition"] == 'up{job="storefront"} == 0 or absent(up{job="storefront"})'
    assert down["for"] == alerts.DOWN_FOR


def test_the_plans_own_thresholds_are_used_and_named(tmp_path: Path) -> None:
    deployment, _ = planned("python-canary", tmp_path)
    conditions = [a["condition"] for a in deployment["monitoring"]["alerts"]]
    assert conditions[1].endswith("> 0.005")  # "refund error rate > 0.5% for 5 minutes"
    assert conditions[2].startswith("histogram_quantile(0.99,") and conditions[2].endswith("> 0.3")  # "p99 latency > 300ms"
    said = " ".join(deployment["assumptions"])
    assert "refund error rate > 0.5%" in said and "p99 latency > 300ms" in said


def test_without_thresholds_in_the_plan_the_defaults_are_said(tmp_path: Path) -> None:
    deployment, _ = planned("go-blue-green", tmp_path)
    assert deployment["monitoring"]["alerts"][2]["condition"].endswith("> 0.5")
    assert "no latency threshold in plan.json" in " ".join(deployment["assumptions"])


@pytest.mark.parametrize(
    ("text", "rate", "latency"),
    [
        ("Refund error rate > 0.5%", 0.005, None),
        ("error_rate above 2 %", 0.02, None),
        ("Error rate >1% or p95 latency over 2s", 0.01, (2.0, "0.95")),
        ("latency p99 > 500ms", None, (0.5, "0.99")),
        ("p99.9 exceeds 1200 ms", None, (1.2, "0.999")),
        ("error rate > 80%", None, None),  # not a threshold anyone alerts on: ignored
        ("Performance degradation >20%", None, None),
        ("p99 latency is fine, error budget 99.9%", None, None),
    ],
)
def test_threshold_reading_is_conservative(text: str, rate: float | None, latency: tuple[float, str] | None) -> None:
    plan = Plan.read({"rollback_plan": {"trigger_conditions": [text], "procedure": ["x"]}})
    found_rate, found_latency = thresholds.error_rate(plan), thresholds.latency(plan)
    assert (found_rate.value if found_rate else None) == pytest.approx(rate)
    if latency is None:
        assert found_latency is None
    else:
        assert found_latency is not None
        assert found_latency.value == pytest.approx(latency[0])
        assert found_latency.quantile == latency[1]


def test_the_tightest_threshold_wins_and_slo_fields_count() -> None:
    plan = Plan.read(
        {"rollback_plan": {"trigger_conditions": ["error rate > 2%"]}, "success_metrics": {"api": ["error rate > 0.1%", "p99 > 250ms"]}}
    )
    assert thresholds.error_rate(plan) == thresholds.Threshold(0.001, source="error rate > 0.1%")
    latency = thresholds.latency(plan)
    assert latency is not None and latency.value == pytest.approx(0.25)


def test_a_rule_without_for_gets_a_safe_default() -> None:
    assert alerts.default_for({"name": "XDown", "condition": "up == 0"}) == "2m"
    assert alerts.default_for({"name": "Gone", "condition": 'absent(up{job="x"})'}) == "2m"
    assert alerts.default_for({"name": "Errors", "condition": "rate(x[5m]) > 1"}) == "5m"


def test_plan_labels_and_annotations_cannot_unroute_or_unlink_an_alert(tmp_path: Path) -> None:
    deployment, facts = planned("node-rolling", tmp_path)
    alert = deployment["monitoring"]["alerts"][0]
    alert["labels"] = {"severity": "info", "team": "web"}
    alert["annotations"] = {"runbook_url": "https://evil.example/", "summary": "Storefront is down"}
    alert["action"] = 'page {{ query "up" }}'
    rule = alerts.rule(spec.read(deployment, facts), alert, "production")
    assert rule["labels"] == {"severity": "critical", "team": "web", "service": "storefront", "environment": "production"}
    assert rule["annotations"]["runbook_url"].endswith("runbook.md#storefrontdown")
    assert rule["annotations"]["summary"] == "Storefront is down"
    assert "{{ query" not in rule["annotations"]["description"]  # plan text never opens a Go template


@needs_promtool
def test_promtool_accepts_the_rendered_rules_and_names_what_it_rejects(tmp_path: Path) -> None:
    deployment, facts = planned("python-canary", tmp_path)
    files = manifests.render(deployment, facts)
    good = yaml.safe_load(files["prometheus/rules.yml"])
    assert alerting.run_promtool({"prometheus/rules.yml": good}) == []
    bad = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up ==", "for": "5m"}]}]}
    [found] = alerting.run_promtool({"prometheus/rules.yml": good, "k8s/dev/prometheusrule.yaml": bad})
    assert (found.artifact, found.rule) == ("k8s/dev/prometheusrule.yaml", "alerts.promtool")
    assert "parse" in found.message and "/tmp" not in found.message.split(":")[0]
