"""Render runbook.md from the plan: real names and namespace, commands that paste and run, the engine's own commands.

Upstream text (service name, purpose, the plan's rollback steps, reasons) reaches the Markdown only through ``text``,
which folds it onto one line and escapes what Markdown or HTML would read as structure; names in commands are
DNS labels, and every command reads them from shell variables defined once at the top.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agent.errors import hidden
from agent.names import is_dns_label
from agent.rendering import diagram, manifests

if TYPE_CHECKING:
    from agent.facts import Facts

SELECTOR = "app.kubernetes.io/name=$APP"
MAX_TEXT = 300
MIN_ROLLBACK_WAIT_SECONDS = 120
"""Even inside the rollback window the previous pods must start and pass readiness."""
_ESCAPED = re.compile(r"([\\`*_\[\]#|~!])")
_ALERT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_NUMBER = re.compile(r"^\s*\d+[.)]\s*")
_AUTOLINK = re.compile(r"(?i)(://|\bwww\.)")
"""What GitHub's Markdown turns into a link by itself (``https://…``, ``www.…``)."""


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Upstream text as inert Markdown on one line: no heading, fence, HTML or link can start inside it."""
    raw = str(value)[: limit * 8]  # more than folding can shrink to ``limit``; never a whole upstream document
    one = " ".join((raw if raw.isprintable() else "".join(" " if hidden(ch) else ch for ch in raw)).split())
    if len(one) > limit:
        one = one[: limit - 1] + "…"
    one = one.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _AUTOLINK.sub(lambda m: m.group(0).replace("/", "\\/").replace(".", "\\."), _ESCAPED.sub(r"\\\1", one))


def anchor(alert_name: str) -> str:
    """GitHub's anchor of the `### <alert_name>` heading (alert names are `[A-Za-z][A-Za-z0-9_]*`)."""
    return re.sub(r"[^a-z0-9_-]", "", alert_name.lower().replace(" ", "-"))


def render(facts: Facts, deployment: dict[str, Any]) -> str:
    names = _Names.of(facts, deployment)
    alerts = [a for a in deployment["monitoring"]["alerts"] if isinstance(a, dict)]
    lines = [
        f"# Runbook: {text(facts.service)}",
        "",
        *_overview(facts, deployment, names),
        *_variables(names, facts),
        *diagram.section(deployment),
        *_monitoring(deployment, alerts),
        "## Common Issues",
        "",
    ]
    for alert in alerts:
        lines += _alert_section(alert, names)
    lines += [*_rollback(facts, deployment, names), *_contacts()]
    if facts.assumptions:
        lines += ["## Assumptions", "", *(f"- {text(a)}" for a in facts.assumptions), ""]
    return "\n".join(lines)


class _Names:
    """The resource names the commands use, all DNS labels."""

    def __init__(self, app: str, namespace: str, rollout: bool, blue_green: bool = False) -> None:
        self.app, self.namespace, self.rollout, self.blue_green = app, namespace, rollout, blue_green
        self.kind = "Rollout" if rollout else "Deployment"
        self.ref = '"$APP"' if rollout else '"deployment/$APP"'

    @classmethod
    def of(cls, facts: Facts, deployment: dict[str, Any]) -> _Names:
        # The manifests' own names, so every command acts on what k8s/<env>/ deploys.
        workload = manifests.workload(deployment, facts)
        for name in (workload.name, workload.namespace):
            if not is_dns_label(name):
                raise ValueError(f"{name!r} is not a DNS-1123 label; refusing to put it in a runbook")
        return cls(workload.name, workload.namespace, workload.kind == "Rollout", workload.strategy == "blue_green")


def _overview(facts: Facts, deployment: dict[str, Any], names: _Names) -> list[str]:
    strategy = deployment["deployment_strategy"]
    return [
        "## Service Overview",
        f"- **Purpose**: {text(facts.title)}",
        f"- **Endpoints**: {', '.join(text(e, 100) for e in facts.endpoints) or 'none declared'}",
        f"- **Kubernetes**: {names.kind} `{names.app}` in namespace `{names.namespace}` "
        f"({'Argo Rollouts' if names.rollout else 'a rolling update'}; manifests in `k8s/<env>/` beside this runbook)",
        f"- **Dependencies**: {', '.join(text(d, 100) for d in facts.dependencies) or 'none declared'}",
        "- **SLA**: 99.9% availability (assumed; not stated upstream)",
        f"- **Strategy**: {text(strategy['type'])}: {text(strategy['reason'])}",
        "",
    ]


def _variables(names: _Names, facts: Facts) -> list[str]:
    plugin = (
        ["Rollouts are driven with the Argo Rollouts kubectl plugin (`kubectl argo rollouts`, installed from the Argo Rollouts release)."]
        if names.rollout
        else []
    )
    return [
        "## Before You Start",
        "Every command below reads these variables; set them once per shell (`BASE_URL` is the service's public URL).",
        "",
        "```bash",
        f"NAMESPACE={names.namespace}",
        f"APP={names.app}",
        f"READY_PATH={_path(facts.readiness)}",
        ': "${BASE_URL:?export BASE_URL=https://... (the service URL) first}"',
        "```",
        "",
        *plugin,
        *([""] if plugin else []),
    ]


def _monitoring(deployment: dict[str, Any], alerts: list[dict[str, Any]]) -> list[str]:
    dashboards = [text(d.get("name", "")) for d in deployment["monitoring"].get("dashboards", []) if isinstance(d, dict)]
    return [
        "## Monitoring",
        f"- **Dashboards**: {', '.join(dashboards) or 'none'}",
        "- **Alerts**: " + ", ".join(f"[{_alert_name(a)}](#{anchor(_alert_name(a))})" for a in alerts),
        "- **Logs**:",
        "",
        "```bash",
        f'kubectl -n "$NAMESPACE" logs -l "{SELECTOR}" --since=15m --tail=200',
        "```",
        "",
    ]


def _alert_name(alert: dict[str, Any]) -> str:
    name = str(alert.get("name", ""))
    return name if _ALERT.fullmatch(name) else text(name, 100)


def _alert_section(alert: dict[str, Any], names: _Names) -> list[str]:
    name = _alert_name(alert)
    return [
        f"### {name}",
        f"**Severity**: {text(alert.get('severity', ''))} · **Fires when**: {_inline_code(alert.get('condition', ''))}"
        + (f" for {text(alert['for'], 20)}" if alert.get("for") else ""),
        "",
        "**Check**:",
        "```bash",
        f'kubectl -n "$NAMESPACE" get {"rollout" if names.rollout else "deployment"} "$APP"',
        f'kubectl -n "$NAMESPACE" get pods -l "{SELECTOR}"',
        f'kubectl -n "$NAMESPACE" logs -l "{SELECTOR}" --since=15m --tail=100',
        f'kubectl -n "$NAMESPACE" top pods -l "{SELECTOR}"',
        'curl -fsS "$BASE_URL$READY_PATH"',
        "```",
        f"**Fix**: {_fix(name)}",
        "",
    ]


def _fix(name: str) -> str:
    lowered = name.lower()
    if "latency" in lowered:
        return (
            "if it started with a release, roll back (below); otherwise raise the autoscaler's floor "
            "(`kubectl -n \"$NAMESPACE\" patch hpa \"$APP\" --type merge -p '{\"spec\":{\"minReplicas\":4}}'`) and check dependencies."
        )
    if "down" in lowered:
        events = f'kubectl -n "$NAMESPACE" describe pods -l "{SELECTOR}"'
        return f"look at the pods' events (`{events}`); if a release caused it, roll back (below)."
    return "if it started with a release, roll back (below); otherwise check the logs and the dependencies."


def _rollback(facts: Facts, deployment: dict[str, Any], names: _Names) -> list[str]:
    rollback = deployment["rollback"]
    listed = " ".join(str(s) for s in rollback.get("procedure", [])).lower()
    wait = _wait_seconds(deployment)
    own = [s for s in facts.rollback_steps if _NUMBER.sub("", str(s)).strip() and _NUMBER.sub("", str(s)).strip().lower() not in listed]
    return [
        "## Rollback Procedure",
        f"Target: the previous version healthy within {int(rollback['time_to_rollback_seconds'])} seconds.",
        "",
        "```bash",
        *(_argo_commands(names.blue_green, wait) if names.rollout else _deployment_commands(wait)),
        'curl -fsS "$BASE_URL$READY_PATH"',
        "```",
        "",
        "Triggers:",
        *(f"- {text(t)}" for t in rollback.get("triggers", [])),
        "",
        "Procedure (deployment.json):",
        *_numbered(rollback.get("procedure", [])),
        "",
        *(["Then the plan's own steps (plan.json), in order:", *_numbered(own), ""] if own else []),
    ]


def _numbered(steps: list[Any]) -> list[str]:
    # Upstream steps are often numbered already ("1. Stop deployment"); Markdown numbers the list itself.
    return [f"1. {text(_NUMBER.sub('', str(step)))}" for step in steps]


def _wait_seconds(deployment: dict[str, Any]) -> int:
    """How long `status` waits: the plan's rollback target, but never less than pods need to start and pass readiness."""
    return max(int(deployment["rollback"]["time_to_rollback_seconds"]), MIN_ROLLBACK_WAIT_SECONDS)


def _argo_commands(blue_green: bool, wait: int) -> list[str]:
    promote = [
        "# Blue/green: the old version comes back as a preview; if the rollout shows Paused, switch traffic to it now.",
        'if [ "$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath=\'{.status.phase}\')" = "Paused" ]; then',
        '  kubectl argo rollouts -n "$NAMESPACE" promote --full "$APP"',
        "fi",
    ]
    return [
        "# A rollout in progress (canary or preview): send all traffic back to the stable version now.",
        'kubectl argo rollouts -n "$NAMESPACE" abort "$APP"',
        "# A rollout that already finished: go back to the previous revision (spec.rollbackWindow skips the steps and analysis).",
        'kubectl argo rollouts -n "$NAMESPACE" undo "$APP"',
        *(promote if blue_green else []),
        f'kubectl argo rollouts -n "$NAMESPACE" status "$APP" --timeout {wait}s',
    ]


def _deployment_commands(wait: int) -> list[str]:
    return [
        'kubectl -n "$NAMESPACE" rollout history "deployment/$APP"',
        'kubectl -n "$NAMESPACE" rollout undo "deployment/$APP"',
        f'kubectl -n "$NAMESPACE" rollout status "deployment/$APP" --timeout={wait}s',
    ]


def _contacts() -> list[str]:
    return [
        "## Contacts",
        "- **Primary**: DevOps Team",
        "- **Escalation**: Tech Lead (approves production)",
        "- **After Hours**: On-call engineer (paged by critical alerts)",
        "",
    ]


def _inline_code(value: Any) -> str:
    """A PromQL condition as inline code: one line, and no backtick that could end the span early."""
    one = " ".join(str(value).split()).replace("`", "'")
    return f"`{one[:MAX_TEXT]}`"


def _path(value: str) -> str:
    if not re.fullmatch(r"(?:/[A-Za-z0-9._~-]*)+", value):
        raise ValueError(f"probe path {value!r} is not a plain URL path; refusing to put it in a runbook")
    return value
