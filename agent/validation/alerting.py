"""Check rendered alerting rules: each rule's PromQL, `for`, severity and runbook link, and `promtool check rules`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from agent.rendering.alerts import availability
from agent.validation import promql, tools
from agent.validation.violations import Violation, as_list, rule

RULES = "prometheus/rules.yml"
PROMTOOL = "promtool"
PROMTOOL_INSTALL = "apt-get install prometheus, or a release from prometheus.io"
PROMTOOL_TIMEOUT = 60


@rule(
    "alerts.rules",
    "k8s/, prometheus/",
    "every alerting rule has valid PromQL (an instant vector), a `for`, a `severity` label and a `runbook_url` into runbook.md",
)
def check_groups(groups: Any, artifact: str, where: str) -> Iterator[Violation]:
    """``groups`` is a rule file's `groups` (``where`` its JSON path); skipped PromQL parsing is reported once."""
    if not promql.available():
        yield tools.skipped(artifact, promql.TOOL, "PromQL syntax of the rules", promql.INSTALL)
    items: list[dict[str, Any]] = []
    for g, group in enumerate(as_list(groups)):
        for r, item in enumerate(as_list(group.get("rules") if isinstance(group, dict) else None)):
            if isinstance(item, dict) and "alert" in item:
                items.append(item)
                yield from _alert(item, artifact, f"{where}[{g}].rules[{r}]")
                yield from selects_service(item, artifact, f"{where}[{g}].rules[{r}]")
    yield from keeps_availability(items, artifact, where)


@rule(
    "alerts.availability",
    "k8s/, prometheus/",
    'the rules keep a critical alert on `up{job="<app>"} == 0 or absent(up{job="<app>"})` that waits at most 15m: '
    "whatever else the plan watches, a service that is down or not scraped pages someone and fails the rollout's analysis",
)
def keeps_availability(items: list[dict[str, Any]], artifact: str, where: str) -> Iterator[Violation]:
    apps = {labels.get("service") for item in items if isinstance(labels := item.get("labels"), dict)}
    for app in sorted(a for a in apps if isinstance(a, str)):
        wanted = "".join(availability(app).split())
        kept = [item for item in items if _critical_on(item, app) and "".join(str(item.get("expr", "")).split()) == wanted]
        if not kept:
            yield Violation(artifact, where, "alerts.availability", f"no critical alert `{availability(app)}`; keep the plan's Down alert")
        elif all((_seconds(item.get("for")) or 0) > MAX_DOWN_FOR_SECONDS for item in kept):
            yield Violation(artifact, where, "alerts.availability", f"the Down alert waits {kept[0].get('for')!r} before it pages; "
                            f"at most {MAX_DOWN_FOR_SECONDS // 60}m, or an outage pages no one")  # fmt: skip


MAX_DOWN_FOR_SECONDS = 15 * 60
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: object) -> float | None:
    """A Prometheus duration (``1h30m``) in seconds; None when it is not one."""
    parts = re.findall(r"([0-9]+)(ms|[smhdwy])", duration) if isinstance(duration, str) else []
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def _critical_on(item: dict[str, Any], app: str) -> bool:
    labels = item.get("labels")
    return isinstance(labels, dict) and labels.get("service") == app and labels.get("severity") == "critical"


def _alert(item: dict[str, Any], artifact: str, path: str) -> Iterator[Violation]:
    expr = item.get("expr")
    problem = promql.problem(expr) if isinstance(expr, str) and promql.available() else None
    if problem:
        yield Violation(artifact, f"{path}.expr", "alerts.rules", f"{expr!r} {problem}")
    if not item.get("for"):
        yield Violation(artifact, f"{path}.for", "alerts.rules", "no `for`: one failed scrape would page someone")
    if not isinstance(item.get("labels"), dict) or not item["labels"].get("severity"):
        yield Violation(artifact, f"{path}.labels", "alerts.rules", "no `severity` label: the alert cannot be routed")
    link = item.get("annotations", {}).get("runbook_url") if isinstance(item.get("annotations"), dict) else None
    if not isinstance(link, str) or "runbook.md#" not in link:
        yield Violation(artifact, f"{path}.annotations", "alerts.rules", "no `runbook_url` pointing at a section of runbook.md")


@rule(
    "alerts.selects_service",
    "k8s/, prometheus/",
    "every alert watches the service: each selector has `job=\"<app>\"`, and no `and`/`unless` has a side that selects "
    "nothing (a rule that can never fire pages no one, and the rollout analysis built from it never fails)",
)
def selects_service(item: dict[str, Any], artifact: str, path: str) -> Iterator[Violation]:
    expr, labels = item.get("expr"), item.get("labels")
    app = labels.get("service") if isinstance(labels, dict) else None
    if not (isinstance(expr, str) and isinstance(app, str) and promql.available()) or promql.problem(expr):
        return  # no app to hold it to, or not PromQL at all (`alerts.rules` says so)
    for found in promql.inert(expr, app):
        yield Violation(artifact, f"{path}.expr", "alerts.selects_service", f"{expr!r}: {found}; an alert on {app} must watch {app}")


@rule("alerts.promtool", "k8s/, prometheus/", "`promtool check rules` accepts prometheus/rules.yml and every PrometheusRule's groups")
def run_promtool(rule_files: dict[str, Any]) -> list[Violation]:
    """``rule_files`` maps an artifact to its plain rule file (``{"groups": [...]}``); one promtool run checks them all."""
    if not rule_files:
        return []
    binary = tools.find(PROMTOOL)
    if binary is None:
        return [tools.skipped(artifact, PROMTOOL, "promtool check rules", PROMTOOL_INSTALL) for artifact in rule_files]
    import subprocess  # only when promtool runs
    import tempfile

    with tempfile.TemporaryDirectory(prefix="devops-agent-promtool-") as folder:
        paths = {}
        for n, (artifact, content) in enumerate(rule_files.items()):
            paths[artifact] = Path(folder) / f"rules-{n}.yml"
            paths[artifact].write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        done = subprocess.run(
            [binary, "check", "rules", *map(str, paths.values())], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT, check=False
        )
    if done.returncode == 0:
        return []
    report = _by_file(done.stderr, {str(p): a for a, p in paths.items()})
    return [Violation(artifact, "$", "alerts.promtool", f"promtool check rules: {text}") for artifact, text in report.items()]


def _by_file(errors: str, artifacts: dict[str, str]) -> dict[str, str]:
    """promtool writes ``<file>: <error>`` lines (with indented continuations) on stderr; group them by artifact."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in errors.splitlines():
        path, _, rest = line.partition(": ")
        if path in artifacts:
            current = artifacts[path]
            found.setdefault(current, []).append(rest.strip())
        elif current and line.strip() and line.strip() != "FAILED:":
            found[current].append(line.strip())
    if not found:
        # An error promtool did not attribute to a file (a crash, a bad flag): report it rather than pass.
        return {next(iter(artifacts.values())): " ".join(errors.split())[:500] or "failed without a message"}
    return {artifact: "; ".join(lines) for artifact, lines in found.items()}
