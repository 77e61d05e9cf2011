"""Text the offline planner writes: monitoring block, GitHub Actions workflow, runbook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from agent.planner import Facts
    from agent.workspace import Inputs


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (shell scripts) as `|` blocks, as a person would."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def _camel(app: str) -> str:
    return "".join(part.capitalize() for part in app.split("-")) or "Service"


def monitoring(facts: Facts) -> dict[str, Any]:
    job, name = facts.app, _camel(facts.app)
    rate = f'sum(rate(http_requests_total{{job="{job}"}}[5m]))'
    errors = f'sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[5m]))'
    p99 = f'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m])))'
    return {
        "metrics": [
            {
                "name": "http_request_duration_seconds",
                "type": "histogram",
                "unit": "seconds",
                "alert_threshold": "p99 > 0.5s for 5m",
            },
            {
                "name": "http_requests_total",
                "type": "counter",
                "unit": "requests",
                "alert_threshold": "5xx ratio > 1% for 5m",
            },
            {"name": "up", "type": "gauge", "alert_threshold": "== 0 for 1m"},
        ],
        "dashboards": [
            {
                "name": f"{facts.service} Performance",
                "panels": ["latency_p99", "error_rate", "request_rate", "pod_restarts"],
            }
        ],
        "alerts": [
            {
                "name": f"{name}Down",
                "condition": f'up{{job="{job}"}} == 0',
                "severity": "critical",
                "action": "page_on_call",
            },
            {
                "name": f"{name}HighErrorRate",
                "condition": f"{errors} / {rate} > 0.01",
                "severity": "critical",
                "action": "page_on_call",
            },
            {
                "name": f"{name}HighLatency",
                "condition": f"{p99} > 0.5",
                "severity": "warning",
                "action": "notify_team_channel",
            },
        ],
    }


def _gates(inputs: Inputs, facts: Facts) -> list[str]:
    gates: dict[str, Any] = {}
    for stage in inputs.plan.stages:
        if isinstance(stage, dict) and isinstance(stage.get("ci_gates"), dict):
            gates |= stage["ci_gates"]
    if not facts.python:
        return ["make test"]
    src = facts.source_dir
    coverage = gates.get("test_coverage")
    cover = f" --cov={src} --cov-report=xml" + (f" --cov-fail-under={coverage}" if isinstance(coverage, int) else "")
    commands = [f"pytest tests/{cover}"]
    if "type_check" in gates:
        commands.append(f"mypy {src}/ --strict" if "strict" in str(gates["type_check"]) else f"mypy {src}/")
    if "black" in str(gates.get("linting", "")):
        commands.append(f"black {src}/ --check")
    elif "ruff" in str(gates.get("linting", "")):
        commands.append(f"ruff check {src}/")
    if "bandit" in str(gates.get("security_scan", "")):
        commands.append(f"bandit -r {src}/")
    return commands


def _deploy_job(env: str, needs: str, app: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "needs": needs,
        "runs-on": "ubuntu-latest",
        "environment": env,
        "timeout-minutes": 20,
        "env": {"KUBECONFIG": "${{ runner.temp }}/kubeconfig"},
        "steps": [
            {"uses": "actions/checkout@v4"},
            {
                "name": "Configure cluster access",
                "run": 'printf "%s" "$KUBECONFIG_DATA" > "$KUBECONFIG"',
                "env": {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"},
            },
            {
                "name": f"Deploy to {env}",
                "run": f"kubectl apply -f k8s/{env}/\nkubectl rollout status deployment/{app} --timeout=300s",
            },
            *extra,
            {
                "name": "Roll back on failure",
                "if": "failure()",
                "run": f"kubectl rollout undo deployment/{app}\nkubectl rollout status deployment/{app} --timeout=60s",
            },
        ],
    }


def workflow(inputs: Inputs, facts: Facts, deployment: dict[str, Any]) -> str:
    probe = deployment["health_checks"]["readiness"]["endpoint"]
    smoke = {
        "name": "Run smoke tests",
        "run": f'curl --fail --silent --show-error --retry 5 --retry-all-errors "${{{{ vars.STAGING_URL }}}}{probe}"',
    }
    python_setup = (
        [
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
            {"name": "Install", "run": "pip install -e '.[dev]' || pip install -r requirements.txt"},
        ]
        if facts.python
        else []
    )
    doc = {
        "name": f"Deploy {inputs.epic_id}: {facts.service}",
        "on": {"push": {"branches": ["main"]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": f"deploy-{facts.app}", "cancel-in-progress": False},
        "jobs": {
            "test": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 20,
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    *python_setup,
                    {"name": "Run tests", "run": "\n".join(_gates(inputs, facts))},
                ],
            },
            "deploy-dev": _deploy_job("dev", "test", facts.app, []),
            "deploy-staging": _deploy_job("staging", "deploy-dev", facts.app, [smoke]),
            "deploy-production": _deploy_job(
                "production",
                "deploy-staging",
                facts.app,
                [
                    {
                        "name": "Run smoke tests",
                        "run": f'curl --fail --silent --show-error --retry 5 --retry-all-errors "${{{{ vars.PRODUCTION_URL }}}}{probe}"',
                    }
                ],
            ),
        },
    }
    header = (
        f"# Generated by devops-agent for {inputs.epic_id} iteration {inputs.iteration}.\n"
        "# Production waits for the 'production' environment's required reviewers (tech lead).\n"
    )
    return header + yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, width=200)


def runbook(facts: Facts, deployment: dict[str, Any]) -> str:
    alerts = deployment["monitoring"]["alerts"]
    app, ready = facts.app, facts.readiness
    lines = [
        f"# Runbook: {facts.service}",
        "",
        "## Service Overview",
        f"- **Purpose**: {facts.title}",
        f"- **Endpoints**: {', '.join(facts.endpoints)}",
        f"- **Kubernetes deployment**: `{app}`",
        f"- **Dependencies**: {', '.join(facts.dependencies) if facts.dependencies else 'none declared'}",
        "- **SLA**: 99.9% availability (assumed; not stated upstream)",
        f"- **Strategy**: {deployment['deployment_strategy']['type']} — {deployment['deployment_strategy']['reason']}",
        "",
        "## Monitoring",
        f"- **Dashboard**: {deployment['monitoring']['dashboards'][0]['name']}",
        f"- **Alerts**: {', '.join(a['name'] for a in alerts)}",
        f"- **Logs**: `kubectl logs -l app={app} --since=15m`",
        "",
        "## Common Issues",
        "",
    ]
    for alert in alerts:
        lines += [
            f"### Alert: {alert['name']} ({alert['severity']})",
            f"**Fires when**: `{alert['condition']}`",
            "",
            "**Check**:",
            "```bash",
            f"kubectl get pods -l app={app}",
            f"kubectl logs -l app={app} --since=15m | tail -n 100",
            f"kubectl top pods -l app={app}",
            f"curl -fsS https://<service-host>{ready}",
            "```",
            "**Fix**: if it started with a release, roll back (below); otherwise scale out "
            f"(`kubectl scale deployment/{app} --replicas=<n>`) and check dependencies.",
            "",
        ]
    lines += [
        "## Rollback Procedure",
        f"Target: healthy previous version within {deployment['rollback']['time_to_rollback_seconds']} seconds.",
        "",
        "```bash",
        f"kubectl rollout history deployment/{app}",
        f"kubectl rollout undo deployment/{app}",
        f"kubectl rollout status deployment/{app} --timeout=60s",
        "```",
        "",
        "Triggers: " + "; ".join(deployment["rollback"]["triggers"]),
        "",
        "## Contacts",
        "- **Primary**: DevOps Team",
        "- **Escalation**: Tech Lead (approves production)",
        "- **After Hours**: On-call engineer (paged by critical alerts)",
        "",
    ]
    if facts.assumptions:
        lines += ["## Assumptions", *(f"- {a}" for a in facts.assumptions), ""]
    return "\n".join(lines)
